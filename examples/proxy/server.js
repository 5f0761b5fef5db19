// A reference proxy in front of vapi_webhook(json): Vapi -> HTTP -> PostgreSQL.
//
// It does what PostgREST does for this one endpoint and nothing else: for each
// POST, on any path, it runs
//
//   SELECT vapi_webhook($2::json)::text FROM pg_catalog.set_config('request.headers', $1, true)
//
// with $1 the request's headers (names lower-cased) as a JSON object and $2 the
// body exactly as received, and answers 200 with the reply, 401 when the
// delivery is refused (SQLSTATE PT401), 413 over MAX_BODY_BYTES, 400 for a body
// that is not UTF-8 JSON, 503 when the database cannot be reached, 500 for any
// other database error.  One statement in autocommit: the headers are set for
// that statement's transaction only, and a refusal leaves nothing to roll back
// on the pooled connection.
//
// Configuration, from the environment: PORT (8080; 0 picks a free port),
// HOST (127.0.0.1), MAX_BODY_BYTES (4 MiB), PGPOOL_MAX (10),
// SHUTDOWN_TIMEOUT_MS (15000: how long SIGTERM waits for the requests under
// way), VAPI_WEBHOOK_FUNCTION (public.vapi_webhook), and the libpq variables
// PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, which `pg` reads, and
// PGCONNECT_TIMEOUT (seconds, 10; also the longest wait for a free pooled
// connection).  Connect as a role that has only EXECUTE on vapi_webhook.
'use strict';

const http = require('node:http');
const { isUtf8 } = require('node:buffer');
const { Pool } = require('pg');

function intFromEnv(name, fallback) {
	const raw = process.env[name];
	if (raw === undefined || raw === '') return fallback;
	const n = Number(raw);
	if (!Number.isInteger(n) || n < 0) {
		console.error(`${name} must be a non-negative integer, not ${JSON.stringify(raw)}`);
		process.exit(2);
	}
	return n;
}

const PORT = intFromEnv('PORT', 8080);
const HOST = process.env.HOST || '127.0.0.1';
const MAX_BODY_BYTES = intFromEnv('MAX_BODY_BYTES', 4 * 1024 * 1024);
const SHUTDOWN_TIMEOUT_MS = intFromEnv('SHUTDOWN_TIMEOUT_MS', 15000);
const FUNCTION = process.env.VAPI_WEBHOOK_FUNCTION || 'public.vapi_webhook';
if (!/^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$/.test(FUNCTION)) {
	console.error(`VAPI_WEBHOOK_FUNCTION must be a lower-case [schema.]name, not ${JSON.stringify(FUNCTION)}`);
	process.exit(2);
}

const pool = new Pool({
	max: intFromEnv('PGPOOL_MAX', 10),
	connectionTimeoutMillis: intFromEnv('PGCONNECT_TIMEOUT', 10) * 1000,
	idleTimeoutMillis: 30000,
	application_name: 'vapi_calls proxy',
});
// An idle connection that breaks (a server restart) is dropped from the pool.
pool.on('error', (err) => console.error(`idle database connection lost: ${err.message}`));

// A prepared statement per connection, named once.
const statement = {
	name: 'vapi_webhook',
	text: `SELECT ${FUNCTION}($2::json)::text AS reply FROM pg_catalog.set_config('request.headers', $1, true)`,
};

// SQLSTATE classes and errno codes that mean "the database is not there".
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH',
	'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE']);

function unavailable(err) {
	if (UNAVAILABLE_ERRNO.has(err.code)) return true;
	if (typeof err.code === 'string' && /^(08|57P0[1-3]|53300)/.test(err.code)) return true;
	return /timeout exceeded when trying to connect|Connection terminated/i.test(err.message || '');
}

function send(res, status, body, extraHeaders) {
	const payload = typeof body === 'string' ? body : JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json; charset=utf-8',
		'content-length': Buffer.byteLength(payload),
		...extraHeaders,
	});
	res.end(payload);
}

// The request's headers as one JSON object of lower-cased names (Node
// lower-cases them; repeated headers are joined with ", ").
function headersJson(req) {
	const out = {};
	for (const [name, value] of Object.entries(req.headers)) {
		out[name] = Array.isArray(value) ? value.join(', ') : String(value);
	}
	return JSON.stringify(out);
}

function tooLarge(req) {
	const length = req.headers['content-length'];
	return length !== undefined && Number(length) > MAX_BODY_BYTES;
}

function refuseTooLarge(req, res) {
	send(res, 413, { code: 'PROXY413', message: `body larger than ${MAX_BODY_BYTES} bytes` },
		{ connection: 'close' });
	// stop reading what is left of the body once the answer is out
	res.on('finish', () => req.destroy());
}

async function deliver(req, res, body) {
	const text = body.toString('utf8');
	// a body that is not UTF-8 would not reach the database byte for byte
	if (isUtf8 ? !isUtf8(body) : Buffer.byteLength(text) !== body.length || !Buffer.from(text).equals(body)) {
		send(res, 400, { code: 'PROXY400', message: 'body is not UTF-8' });
		return;
	}
	try {
		const result = await pool.query({ ...statement, values: [headersJson(req), text] });
		send(res, 200, result.rows[0].reply ?? 'null');
	} catch (err) {
		if (err.code === 'PT401') {
			send(res, 401, { code: 'PT401', message: err.message });
		} else if (unavailable(err)) {
			console.error(`database unavailable: ${err.message}`);
			send(res, 503, { code: 'PROXY503', message: 'database unavailable' }, { 'retry-after': '1' });
		} else if (typeof err.code === 'string' && err.code.startsWith('22')) {
			// not JSON, a NUL byte, ...: the request's fault
			send(res, 400, { code: err.code, message: err.message });
		} else {
			console.error(`database error ${err.code || ''}: ${err.message}`);
			send(res, 500, { code: err.code || 'PROXY500', message: 'database error' });
		}
	}
}

function handle(req, res) {
	if (req.method !== 'POST') {
		send(res, 405, { code: 'PROXY405', message: 'only POST is accepted' }, { allow: 'POST' });
		req.resume();
		return;
	}
	if (tooLarge(req)) {
		refuseTooLarge(req, res);
		return;
	}
	const chunks = [];
	let size = 0;
	let refused = false;
	req.on('data', (chunk) => {
		if (refused) return;
		size += chunk.length;
		if (size > MAX_BODY_BYTES) {
			refused = true;
			chunks.length = 0;
			refuseTooLarge(req, res);
			return;
		}
		chunks.push(chunk);
	});
	req.on('end', () => {
		if (!refused) deliver(req, res, Buffer.concat(chunks, size));
	});
	req.on('error', () => { /* the client went away */ });
}

const server = http.createServer(handle);
// Expect: 100-continue with a body over the limit is refused before it is sent.
server.on('checkContinue', (req, res) => {
	if (tooLarge(req)) {
		refuseTooLarge(req, res);
		return;
	}
	res.writeContinue();
	handle(req, res);
});

let stopping = false;
function shutdown(signal) {
	if (stopping) return;
	stopping = true;
	console.error(`${signal}: finishing the requests under way`);
	const force = setTimeout(() => {
		console.error('shutdown timeout: closing what is left');
		server.closeAllConnections?.();
		process.exit(1);
	}, SHUTDOWN_TIMEOUT_MS);
	force.unref();
	server.close(async () => {
		await pool.end().catch(() => {});
		clearTimeout(force);
		process.exit(0);
	});
	server.closeIdleConnections?.();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.listen(PORT, HOST, () => {
	const { address, port } = server.address();
	console.error(`vapi_calls proxy listening on ${address}:${port}`);
});
