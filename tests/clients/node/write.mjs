// Writes line protocol with the official @influxdata/influxdb-client and prints one JSON
// line: {"ok": true} or {"ok": false, "statusCode", "code", "message", "body"} as the
// client reports the failure, which tests/test_client_libraries.py asserts on.
//
// usage: node write.mjs URL TOKEN BUCKET  (line protocol on stdin)
import { InfluxDB, HttpError } from '@influxdata/influxdb-client';

const [url, token, bucket] = process.argv.slice(2);
const lines = (await new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (chunk) => { data += chunk; });
  process.stdin.on('end', () => resolve(data));
})).split('\n').filter((line) => line.length > 0);

const writeApi = new InfluxDB({ url, token, timeout: 10000 })
  .getWriteApi('any-org', bucket, 'ns', { maxRetries: 0, batchSize: lines.length + 1 });
writeApi.writeRecords(lines);
try {
  await writeApi.close();
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  const out = { ok: false, message: e.message, name: e.name };
  if (e instanceof HttpError) {
    Object.assign(out, { statusCode: e.statusCode, code: e.code, body: e.body });
  }
  console.log(JSON.stringify(out));
}
