// What RESULTS.md says about the machine and the tools: the commit, the kernel, and each server's and peer's version as
// the tool itself reports it (a tool that is missing says so instead of failing the run).
import { spawnSync } from 'node:child_process';

const VERSION_COMMANDS: Array<{ name: string; argv: string[]; pattern: RegExp }> = [
  { name: 'Redis', argv: ['redis-server', '--version'], pattern: /v=([\d.]+)/ },
  { name: 'redis-benchmark', argv: ['redis-benchmark', '--version'], pattern: /([\d.]+)/ },
  { name: 'RabbitMQ', argv: ['dpkg-query', '-W', '--showformat=\x24{Version}', 'rabbitmq-server'], pattern: /(.+)/ },
  { name: 'MariaDB', argv: ['mariadbd', '--version'], pattern: /Ver ([\d.]+-MariaDB)/ },
  { name: 'tcpdump', argv: ['tcpdump', '--version'], pattern: /tcpdump version ([\d.]+)/ },
  { name: 'libpcap', argv: ['tcpdump', '--version'], pattern: /libpcap version ([\d.]+)/ },
  { name: 'nDPI (ndpiReader)', argv: ['ndpiReader', '-h'], pattern: /nDPI ([\d.]+)/ },
  { name: 'TShark', argv: ['tshark', '-v'], pattern: /TShark \(Wireshark\) ([\d.]+)/ },
  { name: 'tcpreplay', argv: ['tcpreplay', '-V'], pattern: /tcpreplay version: ([\d.]+)/ },
];

function run(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return r.error ? '' : `${r.stdout}${r.stderr}`;
}

export function machineFacts(root: string): { commit: string; kernel: string; versions: string[] } {
  const commit = run(['git', '-C', root, 'log', '-1', '--format=%h %s']).trim().slice(0, 100) || 'unknown commit';
  const dirty = run(['git', '-C', root, 'status', '--porcelain', '--untracked-files=no']).trim()
    ? ' (with uncommitted changes)'
    : '';
  const kernel = `Linux ${run(['uname', '-r']).trim()}`;
  const versions = VERSION_COMMANDS.map(({ name, argv, pattern }) => {
    const m = pattern.exec(run(argv));
    return `${name} ${m ? m[1]!.trim() : 'not installed'}`;
  });
  return { commit: `${commit}${dirty}`, kernel, versions };
}
