import { z } from 'zod';
import pkg from '../../package.json';
import { defineRoute, type RouteSpec } from './route';
import { ProblemSchema } from './schemas';

/**
 * OpenAPI 3.1 from the route registry: the same zod schemas that validate requests describe them.
 * zod 4's `z.toJSONSchema` converts each schema; its `$defs` are hoisted to `components.schemas`.
 */

type Json = Record<string, unknown>;

class Components {
  readonly schemas: Record<string, unknown> = {};
  #anonymous = 0;

  /** Converts a schema and hoists its definitions; returns the (possibly `$ref`) schema object. */
  add(schema: z.ZodType, io: 'input' | 'output'): Json {
    const converted = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
    const defs = (converted.$defs ?? {}) as Record<string, unknown>;
    delete converted.$defs;
    delete converted.$schema;
    const names = new Map<string, string>();
    for (const [name, def] of Object.entries(defs)) {
      const isJsonValue = JSON.stringify(def).includes(`"items":{"$ref":"#/$defs/${name}"}`);
      const base = isJsonValue ? 'JsonValue' : name.startsWith('__schema') ? `Schema${++this.#anonymous}` : name;
      names.set(name, io === 'input' && !isJsonValue && !name.startsWith('__schema') ? `${base}Input` : base);
    }
    const rewrite = (value: unknown): unknown =>
      JSON.parse(
        JSON.stringify(value).replace(/"#\/\$defs\/([^"]+)"/g, (_, name: string) => `"#/components/schemas/${names.get(name) ?? name}"`),
      );
    for (const [name, def] of Object.entries(defs)) this.schemas[names.get(name)!] = rewrite(def);
    return rewrite(converted) as Json;
  }
}

function objectProperties(schema: z.ZodType | undefined, components: Components): [string, Json, boolean][] {
  if (!schema) return [];
  const json = components.add(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => [name, s, required.has(name)]);
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const COMMON_ERRORS: Record<number, string> = {
  400: 'Malformed JSON',
  401: 'Missing or invalid token',
  403: 'Role or org not allowed',
  413: 'Body larger than 1 MiB',
  422: 'Schema violation: one `errors` entry per problem',
  503: 'Database unavailable, or a lock timeout behind another writer (Retry-After); nothing was written',
};

/** What a route with path parameters answers when they name nothing (an unknown flag: errorCode FLAG_NOT_FOUND). */
const NOT_FOUND = 'No such resource (the detail names it; an unknown flag has errorCode FLAG_NOT_FOUND)';

export function openapiDocument(routes: readonly RouteSpec[]): Json {
  const components = new Components();
  components.add(ProblemSchema, 'output');
  const paths: Record<string, Record<string, unknown>> = {};

  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const parameters = [
      ...objectProperties(route.params, components).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...objectProperties(route.query, components).map(([name, schema, required]) => ({ name, in: 'query', required, schema })),
      ...(route.headers ?? []).map((name) => ({ name, in: 'header', required: false, schema: { type: 'string' } })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(route.responses)) {
      const numeric = Number(status);
      responses[status] =
        numeric >= 400
          ? problemResponse(response.description)
          : {
              description: response.description,
              ...(response.schema ? { content: { 'application/json': { schema: components.add(response.schema, 'output') } } } : {}),
              ...(response.media ? { content: Object.fromEntries(response.media.map((type) => [type, { schema: { type: 'string' } }])) } : {}),
            };
    }
    for (const [status, description] of Object.entries(COMMON_ERRORS)) {
      const applies = route.access !== 'public' || status === '503';
      if (applies && !(status in responses)) responses[status] = problemResponse(description);
    }
    if (/:(key|id)\b/.test(route.path) && !('404' in responses)) responses['404'] = problemResponse(NOT_FOUND);
    (paths[path] ??= {})[route.method] = {
      operationId: `${route.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
      summary: route.summary,
      tags: [route.tag],
      ...(route.access === 'public' ? { security: [] } : { 'x-roles': route.access }),
      ...(parameters.length ? { parameters } : {}),
      // An empty body reads as {}: the body is required when {} is not valid.
      ...(route.body ? { requestBody: { required: !route.body.safeParse({}).success, content: { 'application/json': { schema: components.add(route.body, 'input') } } } } : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: { title: 'CMIS Flags admin API', version: pkg.version },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'cmf_admin_… token or the bootstrap FLAGS_ADMIN_TOKEN' } },
      schemas: components.schemas,
    },
  };
}

/** `GET /api/openapi.json`; `routes` is read lazily because the registry includes this route. */
export function openapiRoute(routes: () => readonly RouteSpec[]): RouteSpec {
  let cached: Json | undefined;
  return defineRoute({
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This document',
    tag: 'meta',
    access: 'public',
    responses: { 200: { description: 'OpenAPI 3.1' } },
    handler: (c) => c.json((cached ??= openapiDocument(routes()))),
  });
}
