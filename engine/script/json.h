/* json.h — Lua values to and from JSON text, through cJSON. Tables with keys
 * 1..n are arrays, other tables objects (string keys only); an empty table is
 * an object. JSON null decodes to the sentinel json_null (baton.json.null). */
#ifndef BATON_JSON_H
#define BATON_JSON_H

#include <lua.h>
#include <stddef.h>

/* Encodes the value at idx. Returns a malloc'd string (caller frees), or NULL
 * with a one-line reason in err (a function, a cycle, nesting past 64, a NaN,
 * a non-string object key). */
char *json_encode(lua_State *L, int idx, char *err, size_t errlen);

/* The most JSON text a script may hand the engine in one value, outside its
 * own allocator: baton.trigger arguments, a run's result, a store value (1 MB). */
enum { JSON_VALUE_MAX = 1 << 20 };

/* As json_encode, but a value whose text would pass max bytes is refused
 * before its tree grows much past max: NULL, *over set to 1 (when over is not
 * NULL) and err "more than N KB of JSON". *over is 0 for other failures. */
char *json_encode_max(lua_State *L, int idx, size_t max, int *over, char *err, size_t errlen);

/* Decodes text and pushes the value. Returns 0, or -EINVAL with a reason in
 * err and nothing pushed. */
int json_decode(lua_State *L, const char *text, char *err, size_t errlen);

/* Pushes a cJSON tree as Lua values (as json_decode does). Returns 0, or
 * -EINVAL (nothing pushed) past the nesting limit; raises a memory error when
 * L cannot allocate, so the caller keeps `item` where a raise cannot leak it. */
struct cJSON;
int json_push(lua_State *L, const struct cJSON *item);

/* Pushes the null sentinel (a light userdata). */
void json_push_null(lua_State *L);

/* baton.json.encode(value) / baton.json.decode(text), raising script errors. */
int json_l_encode(lua_State *L);
int json_l_decode(lua_State *L);

#endif
