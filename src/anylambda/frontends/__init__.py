"""Frontends: plugins that let clients reach the runtime (Lambda API, API Gateway, AMQP)."""
