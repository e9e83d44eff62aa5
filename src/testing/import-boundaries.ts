/**
 * The repository's layering as data, and the checker that enforces it (src/app/boundaries.test.ts
 * runs it over every source file; src/engine/ and src/net/ keep their own older boundary tests).
 *
 *   src/app     the top layer: lit views, services, jobs; wires the others; nobody imports it
 *   src/engine  the denoising loop; no network but the Collective contract, ORT through one door
 *   src/net     moves tagged tensors between ranks; knows nothing of UNets or the app
 *   src/model   package format and compiler; depends on no runtime layer
 *   signaling/  the Node server; imports nothing from src/
 *
 * Imports are read with the TypeScript parser, so every form counts: `import … from`, `import type`,
 * `export … from`, side-effect `import 'x'`, dynamic `import('x')`, `require('x')` and
 * `new URL('x', import.meta.url)` (how a Web Worker entry is loaded). Test-only code: unit tests
 * (`*.test.ts`) are not checked; `testing/` folders are exempted rule by rule.
 */
import { posix as path } from 'node:path';
import ts from 'typescript';

/** One import as the checker sees it. */
export interface ImportRef {
  /** Repo-relative path of the importing file, with a leading slash: `/src/app/vi-host.ts`. */
  readonly from: string;
  /** What was written in the source. */
  readonly specifier: string;
  /** A relative specifier resolved to `/src/…` (extension kept as written); a package name as is. */
  readonly target: string;
  /** `import type` / `export type`: erased at build time. */
  readonly typeOnly: boolean;
  /** 1-based line of the import. */
  readonly line: number;
}

export interface LayerRule {
  readonly name: string;
  /** Why the rule exists, in one clause: printed with every violation. */
  readonly reason: string;
  /** Importing files the rule applies to (matched against `ImportRef.from`). */
  readonly files: RegExp;
  /** Importing files exempt from it. */
  readonly except?: RegExp;
  /** Targets the files may not import (matched against `ImportRef.target`). */
  readonly forbid: RegExp;
  /** Targets allowed even though `forbid` matches them. */
  readonly allow?: RegExp;
  /** Type-only imports are fine (they are erased, so they carry no code across). */
  readonly valueOnly?: boolean;
}

export interface Violation {
  readonly rule: string;
  readonly reason: string;
  readonly ref: ImportRef;
}

const NODE_ONLY = /^(node:|onnxruntime-node(\/|$)|typescript$|vitest(\/|$)|@playwright\/|protobufjs(\/|$)|\/(signaling|scripts|e2e|training)\/)/;

/** The layering. Each rule names who it binds, what they may not import, and why. */
export const LAYER_RULES: readonly LayerRule[] = [
  // --- nobody imports the app -------------------------------------------------------------
  {
    name: 'app is the top layer',
    reason: 'the app wires engine, net and model together, so nothing under them may depend on it',
    files: /^\/(src\/(engine|net|model|testing)|signaling)\//,
    forbid: /^\/src\/app\//,
  },
  // --- src/engine --------------------------------------------------------------------------
  {
    name: 'engine has no UI, network or app',
    reason: 'the engine runs in a Web Worker and in Node and reaches other ranks only through the Collective contract',
    files: /^\/src\/engine\//,
    forbid: /^(lit|peerjs|peer|chart\.js)(\/|$)|^\/src\/net\//,
  },
  {
    name: 'engine reaches ORT through onnxruntime-common',
    reason: 'the concrete ORT build (web, webgpu, node) is injected, so the same engine runs in the browser and in Node',
    files: /^\/src\/engine\//,
    forbid: /^onnxruntime-(web|node)(\/|$)/,
  },
  {
    name: 'one door to ORT',
    reason: 'session-runner.ts owns every session and the one run queue, so only it may use ORT values',
    files: /^\/src\/engine\//,
    except: /^\/src\/engine\/session-runner\.ts$/,
    forbid: /^onnxruntime-common(\/|$)/,
    valueOnly: true,
  },
  {
    name: 'engine loads packages, never compiles them',
    reason: 'the compiler (protobufjs, Node) and test fixtures stay out of the browser bundle',
    files: /^\/src\/engine\//,
    except: /^\/src\/engine\/testing\//,
    forbid: /^\/src\/(model\/compile|model\/testing|testing)\/|^protobufjs(\/|$)/,
  },
  // --- src/net -----------------------------------------------------------------------------
  {
    name: 'net knows no UNet, model or UI',
    reason: 'the net layer moves tagged tensors and knows nothing of UNets, packages or views',
    files: /^\/src\/net\//,
    forbid: /^(lit|chart\.js|onnxruntime-[a-z]+)(\/|$)|^\/src\/model\//,
  },
  {
    name: 'net sees only the Collective contract of the engine',
    reason: 'the mesh implements the contract in src/engine/collective.ts (its operations: collective-ops.ts) and must not reach into the loop',
    files: /^\/src\/net\//,
    forbid: /^\/src\/engine\//,
    allow: /^\/src\/engine\/collective(-ops)?\.(js|ts)$/,
  },
  {
    name: 'peerjs only in the peer hub and the mesh',
    reason: 'one module owns the PeerJS objects, so every link gets the same limits and heartbeats',
    files: /^\/src\/net\//,
    except: /^\/src\/net\/mesh\/(peer-hub|mesh-collective)\.ts$/,
    forbid: /^peerjs(\/|$)/,
  },
  // --- src/model ---------------------------------------------------------------------------
  {
    name: 'model depends on no runtime layer',
    reason: 'the package format and compiler run in Node and the browser alike and must not pull in a runtime layer',
    files: /^\/src\/model\//,
    except: /^\/src\/model\/testing\//,
    forbid: /^\/src\/(engine|net)\/|^(lit|peerjs|peer|chart\.js|onnxruntime-web)(\/|$)/,
  },
  // --- src/app -----------------------------------------------------------------------------
  {
    name: 'lit only in views',
    reason: 'services, jobs, media and the model cache hold no UI, so they run and are tested in Node',
    files: /^\/src\/app\/(services|job|media|model-cache|testing)\//,
    forbid: /^(lit|chart\.js)(\/|$)/,
  },
  {
    name: 'views render, services link',
    reason: 'components and controllers render state; PeerJS links and the mesh belong to the services',
    files: /^\/src\/app\/(components|controllers)\//,
    forbid: /^peerjs(\/|$)|^\/src\/net\/mesh\//,
  },
  {
    name: 'peerjs in the app only behind the services',
    reason: 'the services own the app\'s links, so a dropped link is handled in one place',
    files: /^\/src\/app\//,
    except: /^\/src\/app\/services\//,
    forbid: /^peerjs(\/|$)/,
  },
  {
    name: 'ORT only in the engine worker',
    reason: 'ONNX Runtime runs in the engine\'s Web Worker, never on the UI thread',
    files: /^\/src\/app\//,
    except: /^\/src\/app\/job\/engine\.worker\.ts$/,
    forbid: /^onnxruntime-[a-z]+(\/|$)|^\/src\/engine\/(session-runner|worker\/engine-worker)\.(js|ts)$/,
  },
  {
    name: 'the app is browser code',
    reason: 'the app ships in the browser bundle, so Node-only modules and the compiler stay out',
    files: /^\/src\/app\//,
    forbid: new RegExp(`${NODE_ONLY.source}|^\\/src\\/model\\/compile\\/`),
  },
  {
    name: 'test support stays out of the product',
    reason: 'test doubles, fixtures and the contract suite must not ship in the app',
    files: /^\/src\/app\//,
    except: /^\/src\/app\/testing\//,
    forbid: /^\/src\/(engine\/testing|model\/testing|testing)\/|^\/src\/net\/(collective-contract|mesh\/fake-peerjs)\.(js|ts)$/,
  },
  // --- signaling/ --------------------------------------------------------------------------
  {
    name: 'signaling stands alone',
    reason: 'the signaling server is small and separate and imports nothing from the tabs\' code',
    files: /^\/signaling\//,
    forbid: /^\/src\//,
  },
];

function stringArg(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

/** Every import of one file. `file` is repo-relative with a leading slash. */
export function importsOf(file: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const add = (specifier: string, typeOnly: boolean, node: ts.Node): void => {
    const target = specifier.startsWith('.') ? path.join(path.dirname(file), specifier) : specifier;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    refs.push({ from: file, specifier, target, typeOnly, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const spec = stringArg(node.moduleSpecifier);
      if (spec !== undefined) add(spec, node.importClause?.isTypeOnly ?? false, node);
    } else if (ts.isExportDeclaration(node)) {
      const spec = stringArg(node.moduleSpecifier);
      if (spec !== undefined) add(spec, node.isTypeOnly, node);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const spec = stringArg(node.moduleReference.expression);
      if (spec !== undefined) add(spec, node.isTypeOnly, node);
    } else if (ts.isCallExpression(node)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      const spec = stringArg(node.arguments[0]);
      if ((isImport || isRequire) && spec !== undefined) add(spec, false, node);
    } else if (ts.isImportTypeNode(node)) {
      // `import('x').T` in a type position: erased, like `import type`.
      const arg = node.argument;
      const spec = ts.isLiteralTypeNode(arg) ? stringArg(arg.literal) : undefined;
      if (spec !== undefined) add(spec, true, node);
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      // new URL('./engine.worker.ts', import.meta.url): a module the bundler follows.
      const [first, second] = node.arguments ?? [];
      const spec = stringArg(first);
      if (spec !== undefined && second !== undefined && second.getText(source) === 'import.meta.url' && spec.startsWith('.')) add(spec, false, node);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

/** The violations of `rules` among `refs`. */
export function checkImports(refs: readonly ImportRef[], rules: readonly LayerRule[] = LAYER_RULES): Violation[] {
  const out: Violation[] = [];
  for (const ref of refs) {
    for (const rule of rules) {
      if (!rule.files.test(ref.from) || rule.except?.test(ref.from)) continue;
      if (rule.valueOnly && ref.typeOnly) continue;
      if (!rule.forbid.test(ref.target) || rule.allow?.test(ref.target)) continue;
      out.push({ rule: rule.name, reason: rule.reason, ref });
    }
  }
  return out;
}

/** One line per violation: where, what, which rule and why. */
export function describeViolation(v: Violation): string {
  return `${v.ref.from.slice(1)}:${v.ref.line} imports '${v.ref.specifier}': breaks "${v.rule}" (${v.reason})`;
}
