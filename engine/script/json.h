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
