#!/usr/bin/env node
// The structured diff behind tools/cdk_diff.py, from @aws-cdk/cloudformation-diff: the library
// the CDK CLI itself formats `cdk diff` with, pinned in package.json. The report reads the
// library's objects as JSON instead of parsing the CLI's text, which changes between releases.
//
//   node tools/cdk_diff.js OLD.template.json NEW.template.json   one stack
//   node tools/cdk_diff.js - < pairs.json                         [{name, base, head}, ...]
//
// In a pair, base or head is a template path, or null for a stack that does not exist on that
// side (a new or a removed stack). Prints {"stacks": [...]}, one entry per pair in input
// order (see describe() below). Exit status: 0, or 2 with a message on stderr.
'use strict';

// chalk decides on colours once, when the library loads it; the text goes into Markdown.
process.env.FORCE_COLOR = '0';

const fs = require('node:fs');
const { Writable } = require('node:stream');

const LIBRARY = '@aws-cdk/cloudformation-diff';

class UsageError extends Error {}

function loadLibrary() {
  try {
    return require(LIBRARY);
  } catch (error) {
    if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes(LIBRARY)) {
      throw new UsageError(
        `${LIBRARY} is not installed (looked from ${__dirname}): run \`npm ci\` (or \`make synth\`) first`,
      );
    }
    throw error;
  }
}

function readJson(path, what) {
  let text;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${error.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} ${path} is not valid JSON: ${error.message}`);
  }
}

function readTemplate(path) {
  const template = readJson(path, 'template');
  if (template === null || typeof template !== 'object' || Array.isArray(template)) {
    throw new UsageError(`template ${path} is not a JSON object`);
  }
  return template;
}

// The other side of a new or removed stack: empty, except for the bootstrap-version check every
// CDK stack carries, so the diff shows only the stack's own resources.
function emptyLike(template) {
  const empty = { Resources: {} };
  const parameter = template.Parameters?.BootstrapVersion;
  if (parameter !== undefined) {
    empty.Parameters = { BootstrapVersion: parameter };
  }
  const rule = template.Rules?.CheckBootstrapVersion;
  if (rule !== undefined) {
    empty.Rules = { CheckBootstrapVersion: rule };
  }
  return empty;
}

class StringStream extends Writable {
  constructor() {
    super();
    this.chunks = [];
    // No `columns`: the library then does not wrap table cells to a terminal's width.
  }

  _write(chunk, _encoding, callback) {
    this.chunks.push(chunk.toString());
    callback();
  }

  toString() {
    return this.chunks.join('');
  }
}

function pathMapOf(...templates) {
  const paths = {};
  for (const template of templates) {
    for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
      const path = resource?.Metadata?.['aws:cdk:path'];
      if (path) {
        paths[logicalId] = path;
      }
    }
  }
  return paths;
}

// What `cdk diff` does before it prints (toolkit-lib's DiffFormatter, non-strict mode), so the
// report shows what the CLI would: changes that are only CloudFormation's mangling of
// non-ASCII characters in a deployed template are dropped, and so are the AWS::CDK::Metadata
// resource and the bootstrap-version rule.
function cliLikeDiff(lib, oldTemplate, newTemplate) {
  let diff = lib.fullDiff(oldTemplate, newTemplate);
  let mangled = 0;
  if (diff.differenceCount) {
    const mangledNew = JSON.parse(lib.mangleLikeCloudFormation(JSON.stringify(newTemplate)));
    const mangledDiff = lib.fullDiff(oldTemplate, mangledNew);
    mangled = Math.max(0, diff.differenceCount - mangledDiff.differenceCount);
    if (mangled > 0) {
      diff = mangledDiff;
    }
  }
  const before = diff.differenceCount;
  const isBootstrapRule = (change) =>
    Boolean(change?.newValue?.CheckBootstrapVersion || change?.oldValue?.CheckBootstrapVersion);
  const isMetadata = (change) =>
    change?.newResourceType === 'AWS::CDK::Metadata' || change?.oldResourceType === 'AWS::CDK::Metadata';
  diff.unknown = diff.unknown.filter((change) => !isBootstrapRule(change));
  diff.resources = diff.resources.filter((change) => !isMetadata(change));
  return { diff, mangled, hidden: before - diff.differenceCount };
}

function changeOf(resource) {
  if (resource.isImport) return 'import';
  if (resource.isAddition) return 'add';
  if (resource.isRemoval) return 'remove';
  return 'update';
}

function securityTables(diff, formatter) {
  const iam = diff.iamChanges;
  const tables = [];
  const add = (kind, title, rows) => {
    // Logical IDs in ${...} become construct paths, as in the CLI's tables.
    const [header, ...body] = formatter.deepSubstituteBracedLogicalIds(rows);
    tables.push({ kind, title, header, rows: body });
  };
  if (iam.statements.hasChanges) {
    add('iam-statements', 'IAM Statement Changes', iam.summarizeStatements());
  }
  if (iam.managedPolicies.hasChanges) {
    add('iam-managed-policies', 'IAM Policy Changes', iam.summarizeManagedPolicies());
  }
  if (iam.ssoPermissionSets.hasChanges) {
    add('sso-permission-sets', 'IAM Identity Center Permission Sets', iam.summarizeSsoPermissionSets());
  }
  if (iam.ssoInstanceACAConfigs.hasChanges) {
    add('sso-access-control', 'IAM Identity Center Access Control', iam.summarizeSsoInstanceACAConfigs());
  }
  if (iam.ssoAssignments.hasChanges) {
    add('sso-assignments', 'IAM Identity Center Assignments', iam.summarizeSsoAssignments());
  }
  if (diff.securityGroupChanges.hasChanges) {
    add('security-groups', 'Security Group Changes', diff.securityGroupChanges.summarize());
  }
  return tables;
}

// Templates are read before the library loads (about a second), so a bad path or file fails fast.
function readStack(pair) {
  if (pair === null || typeof pair !== 'object' || typeof pair.name !== 'string') {
    throw new UsageError(`not a {name, base, head} pair: ${JSON.stringify(pair)}`);
  }
  if (pair.base == null && pair.head == null) {
    throw new UsageError(`stack ${pair.name}: neither a base nor a head template`);
  }
  const head = pair.head == null ? null : readTemplate(pair.head);
  const base = pair.base == null ? emptyLike(head) : readTemplate(pair.base);
  return { name: pair.name, base, head: head ?? emptyLike(base) };
}

function describe(lib, { name, base, head: newTemplate }) {

  const { diff, mangled, hidden } = cliLikeDiff(lib, base, newTemplate);
  const paths = pathMapOf(base, newTemplate);
  const stream = new StringStream();
  const formatter = new lib.Formatter(stream, paths, diff);

  const resources = [];
  diff.resources.forEachDifference((logicalId, resource) => {
    if (!resource.isDifferent) return;
    resources.push({
      logicalId,
      path: formatter.normalizedLogicalIdPath(logicalId) ?? null,
      oldType: resource.oldResourceType ?? null,
      newType: resource.newResourceType ?? null,
      change: changeOf(resource),
      impact: resource.changeImpact,
    });
  });

  const differs = !diff.isEmpty;
  if (differs) {
    lib.formatDifferences(stream, diff, paths);
  }
  return {
    name,
    differs,
    resources,
    securityTables: securityTables(diff, formatter),
    permissionsBroadened: diff.permissionsBroadened,
    hiddenChanges: hidden,
    mangledChanges: mangled,
    text: stream.toString().trimEnd(),
  };
}

function readPairs(argv) {
  if (argv.length === 2 && argv[0] !== '-') {
    return [{ name: argv[1], base: argv[0], head: argv[1] }];
  }
  if (argv.length === 1 && argv[0] === '-') {
    let pairs;
    try {
      pairs = JSON.parse(fs.readFileSync(0, 'utf8'));
    } catch (error) {
      throw new UsageError(`the stack pairs on stdin are not valid JSON: ${error.message}`);
    }
    if (!Array.isArray(pairs)) {
      throw new UsageError('stdin must hold a JSON list of {name, base, head}');
    }
    return pairs;
  }
  throw new UsageError('usage: cdk_diff.js OLD.template.json NEW.template.json | cdk_diff.js - < pairs.json');
}

function main() {
  try {
    const pairs = readPairs(process.argv.slice(2)).map(readStack);
    const lib = loadLibrary();
    const stacks = pairs.map((pair) => describe(lib, pair));
    process.stdout.write(JSON.stringify({ stacks }) + '\n');
    return 0;
  } catch (error) {
    process.stderr.write(`cdk_diff.js: ${error instanceof UsageError ? error.message : error.stack}\n`);
    return 2;
  }
}

process.exitCode = main();
