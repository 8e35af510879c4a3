// Real servers of the protocols a team's mesh carries, from Debian's packages, each on a free loopback port with its
// data in a temporary directory: PostgreSQL, Redis, MariaDB, memcached. `.ci/run` installs the packages; a missing
// one fails the tests that need it, saying which package to install.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export type ServerKind = "postgresql" | "redis" | "mariadb" | "memcached";

export interface RealServer {
  kind: ServerKind;
  port: number;
  stop: () => Promise<void>;
}

const PACKAGE: Record<ServerKind, string> = {
  postgresql: "postgresql",
  redis: "redis-server",
  mariadb: "mariadb-server",
  memcached: "memcached",
};

/** A port free on loopback now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The path of an executable, or a failure naming the Debian package that has it. */
function executable(kind: ServerKind, candidates: string[]): string {
  for (const c of candidates) {
    if (c.includes("/") ? fs.existsSync(c) : spawnSync("sh", ["-c", 'command -v "$1"', "sh", c]).status === 0) return c;
  }
  throw new Error(`${candidates[0]} is not installed: apt-get install ${PACKAGE[kind]} (.ci/run does)`);
}

const isRoot = () => process.getuid?.() === 0;

/** Waits until something accepts connections on the port, or the process ends first. */
async function acceptsConnections(port: number, child: ChildProcess, log: () => string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the server ended with ${child.exitCode} before it listened:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${ms} ms:\n${log()}`);
}

function started(kind: ServerKind, command: string, args: string[], port: number, dir: string): Promise<RealServer> {
  const child = spawn(command, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output = (output + c.toString("utf8")).slice(-4000)));
  child.stderr!.on("data", (c: Buffer) => (output = (output + c.toString("utf8")).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null) {
      const ended = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await ended;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return acceptsConnections(port, child, () => output).then(
    () => ({ kind, port, stop }),
    async (err: unknown) => {
      await stop();
      throw err;
    },
  );
}

export async function startServer(kind: ServerKind): Promise<RealServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mtls-rollout-${kind}-`));
  switch (kind) {
    case "redis": {
      const redis = executable(kind, ["redis-server"]);
      return started(
        kind,
        redis,
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
        port,
        dir,
      );
    }
    case "memcached": {
      const memcached = executable(kind, ["memcached", "/usr/bin/memcached"]);
      return started(kind, memcached, ["-l", "127.0.0.1", "-p", String(port), "-U", "0", ...(isRoot() ? ["-u", "root"] : [])], port, dir);
    }
    case "postgresql": {
      const bin = fs.existsSync("/usr/lib/postgresql")
        ? fs
            .readdirSync("/usr/lib/postgresql")
            .sort((a, b) => Number(b) - Number(a))
            .map((v) => `/usr/lib/postgresql/${v}/bin`)[0]
        : undefined;
      const initdb = executable(kind, [bin ? `${bin}/initdb` : "initdb"]);
      const postgres = executable(kind, [bin ? `${bin}/postgres` : "postgres"]);
      // PostgreSQL refuses to run as root: as root, it runs as the postgres user its package creates.
      const as = (cmd: string, args: string[]): [string, string[]] =>
        isRoot() ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
      if (isRoot()) spawnSync("chown", ["postgres", dir]);
      const data = path.join(dir, "data");
      const [initCmd, initArgs] = as(initdb, ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
      const init = spawnSync(initCmd, initArgs, { cwd: dir, encoding: "utf8", timeout: 60_000 });
      if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
      const [cmd, args] = as(postgres, ["-D", data, "-h", "127.0.0.1", "-p", String(port), "-k", dir, "-c", "fsync=off"]);
      return started(kind, cmd, args, port, dir);
    }
    case "mariadb": {
      const install = executable(kind, ["mariadb-install-db", "mysql_install_db"]);
      const mariadbd = executable(kind, ["/usr/sbin/mariadbd", "/usr/sbin/mysqld", "mariadbd"]);
      const user = isRoot() ? "root" : os.userInfo().username;
      const data = path.join(dir, "data");
      const init = spawnSync(
        install,
        ["--no-defaults", `--datadir=${data}`, `--user=${user}`, "--auth-root-authentication-method=normal", "--skip-test-db"],
        {
          cwd: dir,
          encoding: "utf8",
          timeout: 120_000,
        },
      );
      if (init.status !== 0) throw new Error(`mariadb-install-db failed: ${init.stderr}${init.stdout}`);
      return started(
        kind,
        mariadbd,
        [
          "--no-defaults",
          `--datadir=${data}`,
          `--user=${user}`,
          "--bind-address=127.0.0.1",
          `--port=${port}`,
          `--socket=${path.join(dir, "mariadb.sock")}`,
          `--pid-file=${path.join(dir, "mariadb.pid")}`,
          "--skip-log-bin",
          "--innodb-buffer-pool-size=16M",
        ],
        port,
        dir,
      );
    }
  }
}
