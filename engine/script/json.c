/* json.c — converts between Lua values and cJSON trees. Depth-limited both
 * ways so hostile input cannot exhaust the C stack. */
#include "json.h"

#include <cJSON.h>
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JSON_MAX_DEPTH = 64 };

static const char null_sentinel = 0;

void json_push_null(lua_State *L) { lua_pushlightuserdata(L, (void *)&null_sentinel); }

/* Length n when the table at idx is a non-empty sequence 1..n with no other keys, else 0. */
static lua_Integer array_length(lua_State *L, int idx) {
    lua_Integer n = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k > max) max = k;
        n++;
    }
    return n == max ? n : 0;
}

/* The bytes of text the tree built so far prints to at least, against its
 * maximum: the tree itself is bounded, not only the text printed from it. */
typedef struct json_budget {
    size_t used, max;
    int over;
} json_budget_t;

static int spend(json_budget_t *b, size_t n, char *err, size_t errlen) {
    b->used += n;
    if (b->used <= b->max) return 0;
    b->over = 1;
    snprintf(err, errlen, "more than %zu KB of JSON", b->max / 1024);
    return -1;
}

static cJSON *to_json(lua_State *L, int idx, int depth, json_budget_t *b, char *err,
                      size_t errlen) {
    idx = lua_absindex(L, idx);
    size_t len = 1; /* the least text of a value: a digit; "" and {} are 2 */
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_tolstring(L, idx, &len);
        len += 2;
    }
    if (spend(b, len, err, errlen) < 0) return NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return cJSON_CreateNull();
    case LUA_TBOOLEAN:
        return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (isnan(d) || isinf(d)) {
            snprintf(err, errlen, "cannot encode %s as JSON", isnan(d) ? "NaN" : "infinity");
            return NULL;
        }
        return cJSON_CreateNumber(d);
    }
    case LUA_TSTRING:
        return cJSON_CreateString(lua_tostring(L, idx));
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == &null_sentinel) return cJSON_CreateNull();
        break;
    case LUA_TTABLE: {
        if (depth >= JSON_MAX_DEPTH) {
            snprintf(err, errlen, "cannot encode tables nested deeper than %d (a cycle?)",
                     JSON_MAX_DEPTH);
            return NULL;
        }
        if (!lua_checkstack(L, 4)) {
            snprintf(err, errlen, "out of stack space");
            return NULL;
        }
        lua_Integer n = array_length(L, idx);
        cJSON *out = n ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!out) goto nomem;
        if (n) {
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                cJSON *item = i > 1 && spend(b, 1, err, errlen) < 0 /* the comma */
                                  ? NULL
                                  : to_json(L, -1, depth + 1, b, err, errlen);
                lua_pop(L, 1);
                if (!item) {
                    cJSON_Delete(out);
                    return NULL;
                }
                cJSON_AddItemToArray(out, item);
            }
            return out;
        }
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                snprintf(err, errlen, "cannot encode a table with %s keys as JSON",
                         luaL_typename(L, -2));
                lua_pop(L, 2);
                cJSON_Delete(out);
                return NULL;
            }
            size_t klen;
            lua_tolstring(L, -2, &klen);
            /* "key": and the comma before every key but the first */
            cJSON *item = spend(b, klen + 3 + (out->child != NULL), err, errlen) < 0
                              ? NULL
                              : to_json(L, -1, depth + 1, b, err, errlen);
            if (!item) {
                lua_pop(L, 2);
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToObject(out, lua_tostring(L, -2), item);
            lua_pop(L, 1);
        }
        return out;
    }
    default:
        break;
    }
    snprintf(err, errlen, "cannot encode a %s value as JSON", luaL_typename(L, idx));
    return NULL;
nomem:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

char *json_encode_max(lua_State *L, int idx, size_t max, int *over, char *err, size_t errlen) {
    json_budget_t b = {.max = max};
    cJSON *tree = to_json(L, idx, 0, &b, err, errlen);
    if (over) *over = b.over;
    if (!tree) return NULL;
    char *text = cJSON_PrintUnformatted(tree);
    cJSON_Delete(tree);
    if (!text) {
        snprintf(err, errlen, "out of memory");
    } else if (strlen(text) > max) { /* escapes made it longer than counted */
        if (over) *over = 1;
        snprintf(err, errlen, "more than %zu KB of JSON", max / 1024);
        free(text);
        text = NULL;
    }
    return text;
}

char *json_encode(lua_State *L, int idx, char *err, size_t errlen) {
    return json_encode_max(L, idx, SIZE_MAX, NULL, err, errlen);
}

static int push_json(lua_State *L, const cJSON *j, int depth) {
    if (depth >= JSON_MAX_DEPTH || !lua_checkstack(L, 3)) return -1;
    if (cJSON_IsNull(j)) {
        json_push_null(L);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            if (push_json(L, c, depth + 1) < 0) return -1;
            lua_rawseti(L, -2, i++);
        }
    } else if (cJSON_IsObject(j)) {
        lua_createtable(L, 0, 4);
        for (const cJSON *c = j->child; c; c = c->next) {
            if (push_json(L, c, depth + 1) < 0) return -1;
            lua_setfield(L, -2, c->string);
        }
    } else {
        return -1;
    }
    return 0;
}

int json_push(lua_State *L, const cJSON *item) {
    int top = lua_gettop(L);
    if (push_json(L, item, 0) < 0) {
        lua_settop(L, top);
        return -EINVAL;
    }
    return 0;
}

int json_decode(lua_State *L, const char *text, char *err, size_t errlen) {
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithOpts(text, &end, 1);
    if (!tree) {
        long at = end ? (long)(end - text) : 0;
        snprintf(err, errlen, "invalid JSON at byte %ld", at);
        return -EINVAL;
    }
    int top = lua_gettop(L);
    int rc = push_json(L, tree, 0);
    cJSON_Delete(tree);
    if (rc < 0) {
        lua_settop(L, top);
        snprintf(err, errlen, "JSON nested deeper than %d", JSON_MAX_DEPTH);
        return -EINVAL;
    }
    return 0;
}

int json_l_encode(lua_State *L) {
    char err[256];
    luaL_checkany(L, 1);
    char *text = json_encode(L, 1, err, sizeof err);
    if (!text) return luaL_error(L, "baton.json.encode: %s", err);
    lua_pushstring(L, text);
    free(text);
    return 1;
}

int json_l_decode(lua_State *L) {
    char err[256];
    const char *text = luaL_checkstring(L, 1);
    if (json_decode(L, text, err, sizeof err) < 0)
        return luaL_error(L, "baton.json.decode: %s", err);
    return 1;
}
