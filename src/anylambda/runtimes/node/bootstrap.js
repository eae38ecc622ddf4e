/**
 * anylambda's Node.js Runtime Interface Client.
 *
 * Speaks the Lambda Runtime API (2018-06-01) at AWS_LAMBDA_RUNTIME_API the way
 * AWS's nodejs runtimes do: it loads _HANDLER from LAMBDA_TASK_ROOT (CommonJS
 * or ES module), then loops on /invocation/next, calling the handler with the
 * event, a context and a callback. Handlers may return a promise or call the
 * callback; a callback result waits for the event loop to drain unless
 * context.callbackWaitsForEmptyEventLoop is false. Error bodies, error types,
 * log lines and exit codes follow AWS's runtime.
 *
 * Plain CommonJS with no dependencies, for Node.js >= 18.
 */

'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

const API = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const USER_AGENT = `anylambda-nodejs/${process.version}`;
// How long a dying runtime tries to report its error before it exits anyway.
const DIE_TIMEOUT_MS = 2000;

// --- errors ------------------------------------------------------------------------------

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most ' +
        'commonly caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
  NodeJsExit,
]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function isErrorLike(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string'
  );
}

/** The body AWS's runtime posts for an error: errorType, errorMessage, trace. */
function errorBody(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one ' +
        'or more of its message, name, and stack',
    };
  }
}

/** An error as AWS logs it: a tab, then JSON with its name, message, code and stack. */
function formatError(error) {
  const withProperties = (_key, value) => {
    if (!(value instanceof Error)) return value;
    const shown = { errorType: value.name, errorMessage: value.message, code: value.code };
    Object.assign(shown, value);
    if (typeof value.stack === 'string') shown.stack = value.stack.split('\n');
    return shown;
  };
  try {
    return '\t' + JSON.stringify(error, withProperties);
  } catch {
    return '\t' + JSON.stringify(errorBody(error));
  }
}

// --- logging -----------------------------------------------------------------------------

let currentRequestId; // AWS logs "undefined" before the first invocation

/** console.* write `<ISO time>\t<request id>\t<LEVEL>\t<message>` lines to stdout. */
function patchConsole() {
  const levels = {
    trace: 'TRACE',
    debug: 'DEBUG',
    info: 'INFO',
    log: 'INFO',
    warn: 'WARN',
    error: 'ERROR',
    fatal: 'FATAL',
  };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => {
      const time = new Date().toISOString();
      process.stdout.write(`${time}\t${currentRequestId}\t${level}\t${util.format(...args)}\n`);
    };
  }
}

// --- Runtime API client ------------------------------------------------------------------

const address = process.env.AWS_LAMBDA_RUNTIME_API || '';
const separator = address.lastIndexOf(':');
const apiHost = address.slice(0, separator).replace(/^\[(.*)\]$/, '$1');
const apiPort = Number(address.slice(separator + 1));
const agent = new http.Agent({ keepAlive: true });

/** One request to the Runtime API; resolves to {status, headers, body}. */
function call(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: apiHost,
        port: apiPort,
        path: API + urlPath,
        method,
        agent,
        headers: { 'User-Agent': USER_AGENT, ...headers },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function postJson(urlPath, text, headers) {
  return call('POST', urlPath, text, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
}

function postError(urlPath, error) {
  const body = errorBody(error);
  // A header value must be printable ASCII; the body keeps the full type.
  const errorType = String(body.errorType).replace(/[^\x20-\x7e]/g, '');
  return postJson(urlPath, JSON.stringify(body), { [ERROR_TYPE_HEADER]: errorType });
}

function postInvocationError(requestId, error) {
  return postError(`/invocation/${encodeURIComponent(requestId)}/error`, error);
}

/** Log a handler's error as AWS does ("Invoke Error"), then post it. */
function reportError(requestId, error) {
  console.error('Invoke Error', formatError(error instanceof Error ? error : new Error(error)));
  return postInvocationError(requestId, error);
}

/** Post a handler's result as JSON (undefined is null). */
function reportResult(requestId, result) {
  let text;
  try {
    text = JSON.stringify(result === undefined ? null : result);
  } catch {
    return reportError(requestId, new Error('Unable to stringify response body'));
  }
  return postJson(`/invocation/${encodeURIComponent(requestId)}/response`, text);
}

// --- loading the handler -----------------------------------------------------------------

/** Whether `folder`'s nearest package.json (below any node_modules) says "type": "module". */
function isModulePackage(folder) {
  if (folder.endsWith(`${path.sep}node_modules`)) return false;
  const manifest = path.join(folder, 'package.json');
  if (fs.existsSync(manifest)) {
    try {
      return JSON.parse(fs.readFileSync(manifest, 'utf8'))?.type === 'module';
    } catch (error) {
      console.warn(
        `${manifest} cannot be read, it will be ignored for ES module detection purposes.`,
        error,
      );
      return false;
    }
  }
  const parent = path.dirname(folder);
  return parent !== folder && isModulePackage(parent);
}

/** Load the module like AWS: extensionless, .js (CommonJS or ESM), .mjs, .cjs, then require. */
async function loadModule(taskRoot, moduleRoot, name) {
  const base = path.resolve(taskRoot, moduleRoot, name);
  const exists = (suffix) => fs.existsSync(base + suffix);
  const esModule = exists('.js') && isModulePackage(path.dirname(base));
  try {
    if (exists('')) return require(base);
    if (exists('.js') && !esModule) return require(`${base}.js`);
    if (exists('.js')) return await import(pathToFileURL(`${base}.js`).href);
    if (exists('.mjs')) return await import(pathToFileURL(`${base}.mjs`).href);
    if (exists('.cjs')) return require(`${base}.cjs`);
    return require(require.resolve(name, { paths: [taskRoot, path.join(taskRoot, moduleRoot)] }));
  } catch (error) {
    if (error instanceof SyntaxError) throw new UserCodeSyntaxError(error);
    if (error?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(error);
    throw error;
  }
}

/** Resolve "dir/file.export.nested" to the handler function, with AWS's errors. */
async function loadHandler(taskRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root ` +
        'directories in handler names.',
    );
  }
  const moduleAndExport = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.length - moduleAndExport.length);
  const match = /^([^.]*)\.(.*)$/.exec(moduleAndExport);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, exportPath] = match;
  const userModule = await loadModule(taskRoot, moduleRoot, moduleName);
  const handler = exportPath.split('.').reduce((value, key) => value && value[key], userModule);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// --- the invocation loop -----------------------------------------------------------------

let onEmptyEventLoop = null; // what to do when the event loop drains (AWS's beforeExit listener)
let dying = false;

process.on('beforeExit', () => {
  const action = onEmptyEventLoop;
  onEmptyEventLoop = null;
  if (action) action();
});

/** Report an error the runtime cannot recover from, then exit with AWS's code. */
function die(label, error, exitCode) {
  console.error(label, formatError(error));
  if (dying) return;
  dying = true;
  setTimeout(() => process.exit(exitCode), DIE_TIMEOUT_MS).unref();
  const posted =
    currentRequestId === undefined
      ? postError('/init/error', error)
      : postInvocationError(currentRequestId, error);
  posted.catch(() => {}).finally(() => process.exit(exitCode));
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error}`);
  }
}

/** The context object: invocation data from the headers, function data from the environment. */
function buildContext(headers, callbacks) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return Object.assign(callbacks, {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

function scheduleNext(handler) {
  setImmediate(() => {
    call('GET', '/invocation/next')
      .then((next) => {
        if (next.status !== 200) {
          throw new Error(`Failed to get next invocation, status ${next.status}: ${next.body}`);
        }
        invoke(handler, next);
      })
      .catch((error) => die('Uncaught Exception', error, 129));
  });
}

/** Run one invocation; the first of callback/done/succeed/fail (or the promise) settles it. */
function invoke(handler, next) {
  const requestId = next.headers['lambda-runtime-aws-request-id'];
  currentRequestId = requestId;
  const traceId = next.headers['lambda-runtime-trace-id'];
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;

  let reported = false;
  const report = (posting) => {
    if (reported) return;
    reported = true;
    onEmptyEventLoop = null;
    posting().then(
      () => scheduleNext(handler),
      (error) => die('Uncaught Exception', error, 129),
    );
  };
  const fail = (error) => report(() => reportError(requestId, error));
  const succeed = (result) => report(() => reportResult(requestId, result));

  let waitForEmptyEventLoop = true;
  let settled = false;
  const once = (fn) => (...args) => {
    if (settled) return;
    settled = true;
    fn(...args);
  };
  const done = (error, result) =>
    error !== undefined && error !== null ? fail(error) : succeed(result);
  const callback = (error, result) => {
    if (error !== undefined && error !== null) fail(error);
    else if (!waitForEmptyEventLoop) succeed(result);
    else onEmptyEventLoop = () => setImmediate(() => succeed(result));
  };
  const callbacks = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    done: once(done),
    succeed: once(succeed),
    fail: once((error) => done(error ?? 'handled')),
  };

  // A handler that neither returns a promise nor calls back answers null once the loop drains;
  // an async one whose promise never settles fails.
  onEmptyEventLoop = util.types.isAsyncFunction(handler)
    ? () => report(() => reportError(requestId, new NodeJsExit()))
    : () => report(() => reportResult(requestId, null));

  const settleCallback = once(callback);
  try {
    const context = buildContext(next.headers, callbacks);
    const result = handler(JSON.parse(next.body), context, settleCallback);
    if (result && typeof result.then === 'function') {
      result.then(callbacks.succeed, callbacks.fail);
    }
  } catch (error) {
    settleCallback(error);
  }
}

async function main() {
  patchConsole();
  process.on('uncaughtException', (error) => die('Uncaught Exception', error, 129));
  process.on('unhandledRejection', (reason) => {
    die('Unhandled Promise Rejection', new UnhandledPromiseRejection(reason), 128);
  });
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  scheduleNext(await loadHandler(taskRoot, process.env._HANDLER || ''));
}

main().catch((error) => die('Uncaught Exception', error, 129));
