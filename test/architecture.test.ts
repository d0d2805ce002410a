/**
 * The shape of the code, measured (docs/architecture.md, "Rooms"): each room under offchain/ imports only the rooms
 * below it, nothing under offchain/ imports scripts/ or test/, the browser-safe rooms import no Node module, no
 * source file outside test/ is over 600 lines and no function over 150.
 */
import { expect } from "chai";
import fs from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import ts from "typescript";

const ROOT = path.join(__dirname, "..");
/** Highest first: a room may import the rooms after it in this list, never those before it. */
const ROOMS = ["cli", "web", "bench", "devnet", "sdk", "worker", "deploy", "protocol", "ml"];
/** Rooms that must bundle for a browser: no `node:` module, no fs, no child processes. */
const BROWSER_SAFE = ["protocol"];
const NODE_BUILTINS = new Set(builtinModules);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!["node_modules", "dist", "demo-data"].includes(e.name)) out.push(...sourceFiles(p));
    } else if (/\.(ts|mjs)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
}

/** Every module specifier a file imports: static imports, re-exports, dynamic import() and require(). */
function specifiers(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier)
      out.push((n.moduleSpecifier as ts.StringLiteral).text);
    if (ts.isCallExpression(n) && n.arguments.length === 1 && ts.isStringLiteral(n.arguments[0])) {
      const callee = n.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require"))
        out.push(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const roomOf = (file: string): string | undefined => {
  const rel = path.relative(path.join(ROOT, "offchain"), file).split(path.sep);
  return rel.length > 1 && !rel[0].startsWith("..") ? rel[0] : undefined;
};

describe("architecture: the rooms of offchain/ and the size of what they hold", () => {
  const files = sourceFiles(path.join(ROOT, "offchain"));

  it("imports only downwards between rooms, and never scripts/ or test/", () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = roomOf(file)!;
      for (const spec of specifiers(parse(file)).filter((s) => s.startsWith("."))) {
        const target = path.resolve(path.dirname(file), spec);
        const rel = path.relative(ROOT, target).split(path.sep);
        if (rel[0] === "scripts" || rel[0] === "test") wrong.push(`${path.relative(ROOT, file)} → ${spec}`);
        const to = roomOf(target);
        if (to && to !== from && ROOMS.indexOf(to) < ROOMS.indexOf(from))
          wrong.push(`${path.relative(ROOT, file)} (${from}) → ${spec} (${to})`);
      }
    }
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
  });

  it("keeps the browser-safe rooms free of Node modules", () => {
    const wrong: string[] = [];
    for (const file of files.filter((f) => BROWSER_SAFE.includes(roomOf(f)!))) {
      for (const spec of specifiers(parse(file)))
        if (spec.startsWith("node:") || NODE_BUILTINS.has(spec)) wrong.push(`${path.relative(ROOT, file)} → ${spec}`);
    }
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
  });

  it("has scripts/ hold entry points that nothing imports", () => {
    const all = [...files, ...sourceFiles(path.join(ROOT, "test"))];
    const wrong = all.filter((f) =>
      specifiers(parse(f)).some((s) => s.startsWith(".") && /(^|\/)scripts\//.test(s) && !s.endsWith(".js")),
    );
    expect(wrong.map((f) => path.relative(ROOT, f))).to.deep.equal([]);
  });

  it("has no source file over 600 lines and no function over 150 lines outside test/", () => {
    const long: string[] = [];
    for (const file of [...files, ...sourceFiles(path.join(ROOT, "scripts"))]) {
      const sf = parse(file);
      const rel = path.relative(ROOT, file).split(path.sep).join("/");
      const lines = sf.getLineAndCharacterOfPosition(sf.end).line + 1;
      if (lines > 600) long.push(`${rel}: ${lines} lines`);
      const visit = (n: ts.Node): void => {
        if (ts.isFunctionLike(n) && "body" in n && n.body) {
          const a = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
          const size = sf.getLineAndCharacterOfPosition(n.end).line - a + 1;
          if (size > 150) long.push(`${rel}#${functionName(n)} (line ${a + 1}): ${size} lines`);
        }
        ts.forEachChild(n, visit);
      };
      visit(sf);
    }
    expect(long, long.join("\n")).to.deep.equal([]);
  });
});

function functionName(n: ts.Node): string {
  const named = n as ts.Node & { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  const parent = n.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return "(anonymous)";
}
