// HTTP client for test/proxy.sh: sends requests to the proxy on 127.0.0.1
// with Node's own http module, signs HMAC deliveries as Vapi does (hex
// sha256 of "{timestamp}.{body}" over the exact body bytes), and prints
// what came back.
//
//   node proxy_client.js send [--method M] [--path P] [--header 'name: value']...
//        [--body TEXT | --body-file F] [--hmac SECRET] [--chunked] [--expect-continue]
//     prints "STATUS BODY"
//   node proxy_client.js same-socket BEARER
//     two requests on one keep-alive connection, the first with the Bearer
//     header, the second with none: prints both statuses
//   node proxy_client.js burst N BEARER HMAC_SECRET
//     N requests at once, in turn signed with the Bearer header, with HMAC, or
//     not at all; checks each answer against its own request and prints
//     "ok ..." or what went wrong
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const fs = require('node:fs');

const port = Number(process.env.PROXY_PORT);

function request({ method = 'POST', path = '/', headers = {}, body = Buffer.alloc(0), chunked = false,
	expectContinue = false, agent = false }) {
	return new Promise((resolve, reject) => {
		const h = { 'content-type': 'application/json', ...headers };
		if (!chunked) h['content-length'] = body.length;
		if (expectContinue) h.expect = '100-continue';
		const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, agent }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
			res.on('error', reject);
		});
		req.on('error', (err) => {
			// a proxy that refuses a body may close while it is still being sent
			if (req.res) return;
			reject(err);
		});
		const write = () => {
			if (chunked) {
				for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
				req.end();
			} else {
				req.end(body);
			}
		};
		if (expectContinue) req.on('continue', write); else write();
	});
}

function hmacHeaders(secret, body, ts = Math.floor(Date.now() / 1000)) {
	const mac = crypto.createHmac('sha256', secret);
	mac.update(`${ts}.`);
	mac.update(body);
	return { 'x-timestamp': String(ts), 'x-signature': mac.digest('hex') };
}

function status(callId, status = 'in-progress') {
	return Buffer.from(JSON.stringify({ message: { type: 'status-update', status, call: { id: callId } } }));
}

async function main() {
	const [cmd, ...args] = process.argv.slice(2);
	if (cmd === 'send') {
		const opts = { headers: {} };
		let hmac = null;
		for (let i = 0; i < args.length; i++) {
			const a = args[i];
			if (a === '--method') opts.method = args[++i];
			else if (a === '--path') opts.path = args[++i];
			else if (a === '--header') {
				const [name, ...rest] = args[++i].split(':');
				opts.headers[name] = rest.join(':').trim();
			} else if (a === '--body') opts.body = Buffer.from(args[++i], 'utf8');
			else if (a === '--body-file') opts.body = fs.readFileSync(args[++i]);
			else if (a === '--hmac') hmac = args[++i];
			else if (a === '--chunked') opts.chunked = true;
			else if (a === '--expect-continue') opts.expectContinue = true;
			else throw new Error(`unknown option ${a}`);
		}
		if (hmac) Object.assign(opts.headers, hmacHeaders(hmac, opts.body || Buffer.alloc(0)));
		const r = await request(opts);
		console.log(`${r.status} ${r.body}`);
	} else if (cmd === 'same-socket') {
		const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
		const sockets = new Set();
		agent.on('free', (s) => sockets.add(s));
		const a = await request({ agent, headers: { 'x-vapi-secret': args[0] }, body: status('call-px-sock-1') });
		const b = await request({ agent, body: status('call-px-sock-2') });
		console.log(`${a.status} ${b.status} sockets=${sockets.size}`);
		agent.destroy();
	} else if (cmd === 'burst') {
		const n = Number(args[0]);
		const [bearer, secret] = args.slice(1);
		const jobs = [];
		for (let i = 0; i < n; i++) {
			const callId = `call-px-burst-${i}`;
			const body = status(callId);
			const kind = ['bearer', 'hmac', 'none'][i % 3];
			const headers = kind === 'bearer' ? { 'x-vapi-secret': bearer }
				: kind === 'hmac' ? hmacHeaders(secret, body) : {};
			jobs.push(request({ headers, body }).then((r) => ({ i, callId, kind, ...r })));
		}
		const results = await Promise.all(jobs);
		const wrong = [];
		const counts = {};
		for (const r of results) {
			counts[r.status] = (counts[r.status] || 0) + 1;
			if (r.kind === 'none') {
				if (r.status !== 401) wrong.push(`${r.callId} (unsigned) got ${r.status} ${r.body}`);
			} else {
				let reply = null;
				try { reply = JSON.parse(r.body); } catch { /* reported below */ }
				if (r.status !== 200 || !reply || reply.vapi_call_id !== r.callId || reply.action !== 'inserted')
					wrong.push(`${r.callId} (${r.kind}) got ${r.status} ${r.body}`);
			}
		}
		const summary = Object.keys(counts).sort().map((k) => `${k}:${counts[k]}`).join(' ');
		console.log(wrong.length === 0 ? `ok ${summary}` : `WRONG ${summary}\n${wrong.slice(0, 10).join('\n')}`);
	} else {
		throw new Error(`unknown command ${cmd}`);
	}
}

main().catch((err) => {
	console.log(`client error: ${err.message}`);
	process.exit(1);
});
