import type { Resource } from '@medplum/fhirtypes';
import { applyPatch } from 'rfc6902';
import type { StoredVersion, WriteOp } from '../../store/resource-store.js';
import type { FhirContext } from '../fhir-context.js';
import { FhirError } from '../outcomes.js';
import { computeIndex } from '../search/index-values.js';
import { assertValid } from '../validation.js';
import type { ResolvedIntent } from './write-intent.js';

export interface WriteResult {
  resolved: ResolvedIntent;
  /** The version written (absent for no-ops). */
  version?: StoredVersion;
}

/**
 * Turns resolved intents into one atomic store commit. Every resource is validated and indexed
 * before anything is written, so a transaction either fully lands or leaves no trace.
 * `rewrite` replaces transaction-local references (urn:uuid:…) with the assigned ids.
 */
export async function applyWrites(
  ctx: FhirContext,
  resolved: ResolvedIntent[],
  rewrite: (r: Resource) => Resource = (r) => r,
  /** Lets a transaction say which entry failed; the default rethrows unchanged. */
  annotate: (position: number, err: unknown) => unknown = (_i, err) => err,
): Promise<WriteResult[]> {
  const ops: WriteOp[] = [];
  const opIndex: number[] = [];
  for (let i = 0; i < resolved.length; i++) {
    const r = resolved[i] as ResolvedIntent;
    if (r.kind === 'noop') continue;
    try {
      ops.push(await prepareOp(ctx, r, rewrite));
    } catch (err) {
      throw annotate(i, err);
    }
    opIndex.push(i);
  }
  const versions = ops.length > 0 ? await ctx.store.commit({ ops, now: ctx.now() }) : [];
  const results: WriteResult[] = resolved.map((r) => ({ resolved: r }));
  versions.forEach((v, k) => {
    (results[opIndex[k] as number] as WriteResult).version = v;
  });
  return results;
}

async function prepareOp(ctx: FhirContext, r: ResolvedIntent & { kind: 'write' }, rewrite: (r: Resource) => Resource): Promise<WriteOp> {
  const { intent } = r;
  const base = { resourceType: intent.resourceType, id: r.id, ...(r.expectedVersionId !== undefined ? { expectedVersionId: r.expectedVersionId } : {}) };
  if (r.op === 'delete') return { ...base, kind: 'delete' };
  let resource: Resource;
  if (intent.method === 'PATCH') {
    resource = await patched(ctx, intent.resourceType, r.id, intent.patch ?? []);
  } else {
    if (!intent.resource) throw new FhirError('bad-request', `${intent.method} ${intent.resourceType} needs a resource body`);
    resource = rewrite(intent.resource);
  }
  resource = { ...resource, id: r.id } as Resource;
  assertValid(ctx.defs, resource);
  // Labelled before indexing, so _tag/_security searches and consent see the server's labels.
  resource = ctx.labeler.apply(resource);
  return { ...base, kind: r.op, resource, index: computeIndex(ctx.defs, resource) };
}

async function patched(ctx: FhirContext, type: string, id: string, patch: unknown[]): Promise<Resource> {
  const current = await ctx.store.readCurrent(type, id);
  if (!current?.resource) throw new FhirError('not-found', `${type}/${id} not found`);
  const doc = structuredClone(current.resource) as unknown as Record<string, unknown>;
  let errors;
  try {
    errors = applyPatch(doc, patch as Parameters<typeof applyPatch>[1]);
  } catch (err) {
    throw new FhirError('bad-request', `Invalid JSON Patch: ${(err as Error).message}`);
  }
  const failed = errors.findIndex((e) => e !== null);
  if (failed >= 0) {
    const e = errors[failed] as Error;
    const code = e.name === 'TestError' ? 'unprocessable' : 'bad-request';
    throw new FhirError(code, `JSON Patch operation ${failed} failed: ${e.message}`);
  }
  if (doc.resourceType !== type || doc.id !== id) {
    throw new FhirError('bad-request', 'JSON Patch must not change resourceType or id');
  }
  // meta.versionId/lastUpdated are the server's; a patch cannot set them.
  return doc as unknown as Resource;
}
