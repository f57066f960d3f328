// Command-line reading shared by the Node load generators (bench_node_*.js): the URL first, then
// `--name value` options; a number out of its range ends the process with status 2.
"use strict";

function benchArgs(program, argv = process.argv.slice(2)) {
  const opt = (name, def) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : def;
  };
  const num = (name, def, min, max) => {
    const v = Number(opt(name, def));
    if (!Number.isFinite(v) || v < min || v > max) {
      console.error(`${program}: ${name} must be a number from ${min} to ${max}`);
      process.exit(2);
    }
    return v;
  };
  return { url: argv[0], opt, num };
}

module.exports = { benchArgs };
