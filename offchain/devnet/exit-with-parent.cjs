// Preloaded (`node --require <this file> …`) into a child process that must not outlive its parent (the `hardhat node`
// of `posthuman up` and of the tests). The parent spawns it with a pipe as stdin and never writes to it: when the parent
// is gone, however it ended (SIGKILL included), the kernel closes the pipe's other end, stdin ends, and this process
// exits instead of running on as an orphan that holds its port. Plain CommonJS: it is loaded before any TypeScript
// support. Only that process loads it: `hardhat node` forks no Node.js child (solc-js runs through execFile, which
// does not pass `--require` on; a fork() would).
"use strict";
const stdin = process.stdin;
const exit = () => process.exit(0);
stdin.on("end", exit);
stdin.on("close", exit);
stdin.on("error", exit);
stdin.resume(); // read (and drop) until the end
