#!/usr/bin/env node
// The `posthuman` command. Runs the TypeScript sources through ts-node (transpile only: `npm run typecheck`
// checks types), so a fresh clone needs no build step.
"use strict";
const path = require("node:path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "..", "tsconfig.json") });
require("./main.ts")
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
