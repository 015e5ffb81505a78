import type { FhirContext } from '../fhir-context.js';
import { FhirError } from '../outcomes.js';
import { queryParams } from '../query-params.js';
import { compileSearch } from '../search/compile-search.js';
import { parseSearchQuery } from '../search/parse-search-query.js';
import type { ResolvedIntent, WriteIntent } from './write-intent.js';

/**
 * Decides what an intent will do: picks the id, resolves conditional create/update/delete by
 * search (R4 §3.1.0.8–10), and states the optimistic-concurrency precondition that the store
 * re-checks atomically at commit time.
 */
export async function resolveIntent(ctx: FhirContext, intent: WriteIntent): Promise<ResolvedIntent> {
  const { store } = ctx;
  switch (intent.method) {
    case 'POST': {
      if (intent.condition) {
        const matches = await conditionalMatches(ctx, intent.resourceType, intent.condition);
        if (matches.length > 1) throw new FhirError('multiple-matches', `If-None-Exist matched ${matches.length} resources`);
        if (matches.length === 1) return { kind: 'noop', intent, id: matches[0], status: 200, reason: 'exists' };
      }
      return { kind: 'write', intent, op: 'create', id: ctx.newId(), status: 201 };
    }
    case 'PUT': {
      let id = intent.id;
      if (!id) {
        const matches = await conditionalMatches(ctx, intent.resourceType, intent.condition ?? '');
        if (matches.length > 1) throw new FhirError('multiple-matches', `Conditional update matched ${matches.length} resources`);
        const bodyId = intent.resource?.id;
        if (matches.length === 1) {
          if (bodyId && bodyId !== matches[0]) {
            throw new FhirError('id-mismatch', `Resource id '${bodyId}' does not match the resource the condition selected`, 'id');
          }
          id = matches[0] as string;
        } else {
          if (!bodyId) {
            return { kind: 'write', intent, op: 'create', id: ctx.newId(), status: 201 };
          }
          id = bodyId;
        }
      }
      const current = await store.readCurrent(intent.resourceType, id);
      const exists = current !== undefined && !current.deleted;
      if (intent.ifMatch !== undefined && !exists) {
        throw new FhirError('precondition-failed', `If-Match given but ${intent.resourceType}/${id} does not exist`);
      }
      if (!exists && !ctx.options.updateCreate && intent.id) {
        throw new FhirError('method-not-allowed', `${intent.resourceType}/${id} does not exist and this server does not allow update-as-create`);
      }
      return {
        kind: 'write',
        intent,
        op: 'update',
        id,
        status: exists ? 200 : 201,
        ...(intent.ifMatch !== undefined ? { expectedVersionId: intent.ifMatch } : {}),
      };
    }
    case 'PATCH': {
      const id = intent.id ?? (await singleMatch(ctx, intent.resourceType, intent.condition ?? ''));
      const current = await store.readCurrent(intent.resourceType, id);
      if (!current) throw new FhirError('not-found', `${intent.resourceType}/${id} not found`);
      if (current.deleted) throw new FhirError('gone', `${intent.resourceType}/${id} was deleted`);
      if (intent.ifMatch !== undefined && intent.ifMatch !== current.versionId) {
        throw new FhirError('precondition-failed', `Version conflict: If-Match ${intent.ifMatch}, current ${current.versionId}`);
      }
      // The patch applies to the version just read; the store refuses the commit if another
      // writer got in between, rather than applying the patch to a version it was not meant for.
      return { kind: 'write', intent, op: 'update', id, status: 200, expectedVersionId: current.versionId };
    }
    case 'DELETE': {
      let id = intent.id;
      if (!id) {
        const matches = await conditionalMatches(ctx, intent.resourceType, intent.condition ?? '');
        if (matches.length > 1) throw new FhirError('multiple-matches', `Conditional delete matched ${matches.length} resources`);
        if (matches.length === 0) return { kind: 'noop', intent, status: 204, reason: 'no match' };
        id = matches[0] as string;
      }
      const current = await store.readCurrent(intent.resourceType, id);
      if (!current) return { kind: 'noop', intent, id, status: 404, reason: 'not found' };
      if (current.deleted) return { kind: 'noop', intent, id, status: 204, reason: 'already deleted' };
      return {
        kind: 'write',
        intent,
        op: 'delete',
        id,
        status: 200,
        ...(intent.ifMatch !== undefined ? { expectedVersionId: intent.ifMatch } : {}),
      };
    }
  }
}

async function singleMatch(ctx: FhirContext, type: string, condition: string): Promise<string> {
  const matches = await conditionalMatches(ctx, type, condition);
  if (matches.length === 0) throw new FhirError('not-found', `No ${type} matches ${condition}`);
  if (matches.length > 1) throw new FhirError('multiple-matches', `Condition matched ${matches.length} resources`);
  return matches[0] as string;
}

/** Ids matching a conditional query; at most 2, which is all a caller needs to decide. */
export async function conditionalMatches(ctx: FhirContext, type: string, condition: string): Promise<string[]> {
  const query = condition.replace(/^\?/, '');
  if (query.trim() === '') throw new FhirError('bad-request', 'A conditional interaction needs search parameters');
  const params = queryParams(new URLSearchParams(query));
  const parsed = parseSearchQuery(type, params);
  // Conditional writes must not act on a half-understood condition: unknown parameters are errors.
  const compiled = await compileSearch(ctx.defs, parsed, { strict: true, store: ctx.store });
  if (Object.keys(compiled.filter).length === 0) throw new FhirError('bad-request', 'A conditional interaction needs search parameters');
  const result = await ctx.store.search({ resourceType: type, filter: compiled.filter, limit: 2 });
  return result.resources.map((r) => r.id);
}
