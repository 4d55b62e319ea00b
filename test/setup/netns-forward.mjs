// Runs inside a fresh network namespace (`unshare -n`): brings loopback up, listens on
// 127.0.0.1:<port> and forwards every connection to a Unix socket outside the namespace, then runs
// the command. Lets a tool with a hard-coded address (restic 0.14 reaches Azurite only at
// 127.0.0.1:10000) use a server on any port, with no clash between parallel test runs.
//   node netns-forward.mjs <port> <unix-socket> -- <command> [args...]
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';

const [portText, socketPath, separator, command, ...args] = process.argv.slice(2);
if (!portText || !socketPath || separator !== '--' || !command) {
  console.error('usage: node netns-forward.mjs <port> <unix-socket> -- <command> [args...]');
  process.exit(2);
}
const lo = spawnSync('ip', ['link', 'set', 'lo', 'up'], { stdio: 'inherit' });
if (lo.status !== 0) process.exit(lo.status ?? 1);
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(Number(portText), '127.0.0.1', () => {
  const child = spawn(command, args, { stdio: 'inherit' });
  child.on('error', (err) => {
    console.error(`${command}: ${err.message}`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
});
