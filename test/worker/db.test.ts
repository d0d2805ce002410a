import { expect } from "chai";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openWorkerDb, WorkerDbCorruptError, type Migration } from "../../offchain/worker/db";

describe("openWorkerDb", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-db-"));
  });
  const file = (): string => path.join(dir, "nested", "worker.sqlite");

  it("creates the file and its folder, in WAL mode", () => {
    const db = openWorkerDb({ file: file() });
    expect(fs.existsSync(file())).to.equal(true);
    expect(db.prepare("PRAGMA journal_mode").get<{ journal_mode: string }>()?.journal_mode).to.equal("wal");
    expect(db.prepare("PRAGMA synchronous").get<{ synchronous: number }>()?.synchronous).to.equal(2); // FULL
    db.close();
  });

  describe("migrate", () => {
    it("applies each step once, in order, and adding one applies only the new one", () => {
      const steps: Migration[] = ["CREATE TABLE jobs (id INTEGER PRIMARY KEY) STRICT"];
      let db = openWorkerDb({ file: file() });
      expect(db.schemaVersion("jobs")).to.equal(0);
      expect(db.migrate("jobs", steps)).to.equal(1);
      expect(db.migrate("jobs", steps)).to.equal(1); // nothing to do the second time
      db.prepare("INSERT INTO jobs (id) VALUES (1)").run();
      db.close();

      // A new release appends one step (the one-liner the lead adds for each schema change).
      const next = [...steps, "ALTER TABLE jobs ADD COLUMN state TEXT NOT NULL DEFAULT 'new'"];
      db = openWorkerDb({ file: file() });
      expect(db.migrate("jobs", next)).to.equal(2);
      expect(db.prepare("SELECT id, state FROM jobs").all()).to.deep.equal([{ id: 1, state: "new" }]);
      db.close();
    });

    it("rolls back a failing step entirely and leaves the version where it was", () => {
      const db = openWorkerDb({ file: file() });
      const bad: Migration[] = ["CREATE TABLE a (x INTEGER) STRICT; CREATE TABLE b (y NOPE_TYPE) STRICT"];
      expect(() => db.migrate("broken", bad)).to.throw();
      expect(db.schemaVersion("broken")).to.equal(0);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").get()).to.equal(undefined);
      db.close();
    });

    it("refuses a database written by a newer schema, and an applied migration that was edited", () => {
      let db = openWorkerDb({ file: file() });
      db.migrate("jobs", ["CREATE TABLE jobs (id INTEGER) STRICT", "CREATE TABLE more (id INTEGER) STRICT"]);
      expect(() => db.migrate("jobs", ["CREATE TABLE jobs (id INTEGER) STRICT"])).to.throw(
        /schema "jobs" version 2, newer than this worker's 1: run a newer worker/,
      );
      expect(() =>
        db.migrate("jobs", [
          "CREATE TABLE jobs (id INTEGER, other TEXT) STRICT",
          "CREATE TABLE more (id INTEGER) STRICT",
        ]),
      ).to.throw(/jobs#1 was changed after it was applied/);
      // Reformatting is not a change.
      expect(
        db.migrate("jobs", ["CREATE TABLE jobs\n  (id INTEGER)\n  STRICT", "CREATE TABLE more (id INTEGER) STRICT"]),
      ).to.equal(2);
      db.close();
      db = openWorkerDb({ file: file() });
      expect(db.schemaVersion("jobs")).to.equal(2);
      db.close();
    });

    it("runs function steps inside the transaction", () => {
      const db = openWorkerDb({ file: ":memory:" });
      db.migrate("fn", [
        (tx) => {
          tx.exec("CREATE TABLE t (v TEXT) STRICT");
          tx.prepare("INSERT INTO t (v) VALUES (?)").run("seeded");
        },
      ]);
      expect(db.prepare("SELECT v FROM t").all()).to.deep.equal([{ v: "seeded" }]);
      db.close();
    });
  });

  describe("transaction", () => {
    it("commits all or nothing", () => {
      const db = openWorkerDb({ file: file() });
      db.exec("CREATE TABLE t (v INTEGER) STRICT");
      expect(() =>
        db.transaction((tx) => {
          tx.prepare("INSERT INTO t (v) VALUES (1)").run();
          db.kv.set("k", 1, tx);
          throw new Error("boom");
        }),
      ).to.throw("boom");
      expect(db.prepare("SELECT COUNT(*) AS n FROM t").get<{ n: number }>()?.n).to.equal(0);
      expect(db.kv.get("k")).to.equal(undefined);
      db.close();
    });

    it("refuses an async function (its awaits would run after COMMIT)", () => {
      const db = openWorkerDb({ file: ":memory:" });
      expect(() => db.transaction(async () => undefined)).to.throw(/must be synchronous|cannot return a promise/);
      db.close();
    });
  });

  describe("kv", () => {
    it("stores JSON values by key, lists by prefix, deletes", () => {
      const db = openWorkerDb({ file: file() });
      db.kv.set("worker.lastSeen", { block: 12, tags: ["a", "b"] });
      db.kv.set("worker.mode", "active");
      db.kv.set("other", null);
      db.kv.set("worker.mode", "draining");
      expect(db.kv.get("worker.lastSeen")).to.deep.equal({ block: 12, tags: ["a", "b"] });
      expect(db.kv.get("worker.mode")).to.equal("draining");
      expect(db.kv.get("other")).to.equal(null);
      expect(db.kv.get("missing")).to.equal(undefined);
      expect(db.kv.keys("worker.")).to.deep.equal(["worker.lastSeen", "worker.mode"]);
      expect(db.kv.delete("worker.mode")).to.equal(true);
      expect(db.kv.delete("worker.mode")).to.equal(false);
      db.close();
      const reopened = openWorkerDb({ file: file() });
      expect(reopened.kv.get("worker.lastSeen")).to.deep.equal({ block: 12, tags: ["a", "b"] });
      reopened.close();
    });
  });
  describe("a damaged database", () => {
    /** What opening `file()` throws. */
    const openError = (): WorkerDbCorruptError => {
      let err: unknown;
      try {
        openWorkerDb({ file: file() }).close();
      } catch (e) {
        err = e;
      }
      expect(err, "expected the open to fail").to.be.instanceOf(WorkerDbCorruptError);
      return err as WorkerDbCorruptError;
    };
    const expectAdvice = (e: WorkerDbCorruptError) => {
      expect(e.message).to.include(file());
      expect(e.message).to.match(/Do not delete it/);
      expect(e.message).to.match(/Restore it from a backup/);
      expect(e.message).to.match(/paid for twice/);
      expect(e.message).to.match(/--worker-data-dir/);
    };

    it("refuses a file of random bytes, naming it and what to do", () => {
      fs.mkdirSync(path.dirname(file()), { recursive: true });
      fs.writeFileSync(file(), crypto.randomBytes(64 * 1024));
      const e = openError();
      expect(e.message).to.match(/file is not a database/);
      expectAdvice(e);
      expect(fs.existsSync(file()), "the file is left as it was").to.equal(true);
    });

    it("refuses a database with a page overwritten (found by quick_check before anything runs)", () => {
      const db = openWorkerDb({ file: file() });
      db.exec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT");
      const insert = db.prepare("INSERT INTO jobs (body) VALUES (?)");
      db.transaction(() => {
        for (let i = 0; i < 2000; i++) insert.run(`job ${i} `.repeat(20));
      });
      db.exec("CREATE INDEX jobs_body ON jobs(body)");
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
      const pageSize = 4096;
      const pages = fs.statSync(file()).size / pageSize;
      expect(pages).to.be.greaterThan(10);
      const fd = fs.openSync(file(), "r+");
      fs.writeSync(fd, crypto.randomBytes(pageSize), 0, pageSize, Math.floor(pages / 2) * pageSize);
      fs.closeSync(fd);
      const e = openError();
      expect(e.message).to.match(/damaged \(/);
      expectAdvice(e);
    });

    it("opens a sound database as before", () => {
      openWorkerDb({ file: file() }).close();
      const db = openWorkerDb({ file: file() });
      expect(db.schemaVersion("core")).to.equal(1);
      db.close();
    });
  });
});
