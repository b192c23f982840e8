// nsplug example plugin in C: lists the links and addresses of namespaces.
//
// The same plugin as examples/list-links-rust: command `list` (or `run`); input empty or
// `{"namespaces": ["blue", "red"]}`; without names it lists every namespace the host grants it.
// A namespace the host refuses or cannot read is reported with its error code
// (`{"error":"denied-by-policy","name":"red"}`) and the others are still listed. The output is
// compact JSON with sorted keys, byte for byte what the Rust plugin prints.
//
// Bindings (`wit-bindgen c`, in plugin.h): a host function returning `result<T, E>` returns
// `true` and fills `*ret`, or `false` and fills `*err` (an error-code number, or for
// `batch.run` a batch-error `{ index, code }`). The export returns `false` with `*err` set to a
// plugin-error for a structured failure. Strings are `plugin_string_t` (pointer and length, not
// NUL-terminated); what the host returns is ours to free.

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

// ---- a growable output buffer --------------------------------------------------------------

typedef struct {
  char *ptr;
  size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    b->ptr = realloc(b->ptr, cap);
    if (!b->ptr) abort();
    b->cap = cap;
  }
  memcpy(b->ptr + b->len, s, n);
  b->len += n;
}

static void buf_str(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_u32(buf_t *b, uint32_t v) {
  char tmp[16];
  buf_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%u", (unsigned)v));
}

// A JSON string, escaped as serde_json escapes it.
static void buf_json_string(buf_t *b, const uint8_t *s, size_t n) {
  buf_put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    switch (c) {
      case '"': buf_str(b, "\\\""); break;
      case '\\': buf_str(b, "\\\\"); break;
      case '\b': buf_str(b, "\\b"); break;
      case '\f': buf_str(b, "\\f"); break;
      case '\n': buf_str(b, "\\n"); break;
      case '\r': buf_str(b, "\\r"); break;
      case '\t': buf_str(b, "\\t"); break;
      default:
        if (c < 0x20) {
          char tmp[8];
          snprintf(tmp, sizeof tmp, "\\u%04x", c);
          buf_str(b, tmp);
        } else {
          buf_put(b, (const char *)&c, 1);
        }
    }
  }
  buf_put(b, "\"", 1);
}

static void buf_wit_string(buf_t *b, const plugin_string_t *s) { buf_json_string(b, s->ptr, s->len); }

static void buf_option_string(buf_t *b, const plugin_option_string_t *s) {
  if (s->is_some) buf_wit_string(b, &s->val);
  else buf_str(b, "null");
}

// ---- just enough of a JSON reader for the input document -----------------------------------

typedef struct {
  const uint8_t *p, *end;
  int depth;
} reader_t;

static void skip_ws(reader_t *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static bool literal(reader_t *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
  r->p += n;
  return true;
}

static int hex(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_hex4(reader_t *r, uint32_t *out) {
  if (r->end - r->p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hex(r->p[i]);
    if (h < 0) return false;
    v = v * 16 + (uint32_t)h;
  }
  r->p += 4;
  *out = v;
  return true;
}

static void put_utf8(buf_t *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
  } else {
    u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
  }
  buf_put(b, u, n);
}

// A string at r->p (after its opening quote); its decoded bytes go to `out` when given.
static bool read_string(reader_t *r, buf_t *out) {
  while (r->p < r->end) {
    uint8_t c = *r->p++;
    if (c == '"') return true;
    if (c < 0x20) return false;
    if (c != '\\') {
      if (out) buf_put(out, (const char *)&c, 1);
      continue;
    }
    if (r->p >= r->end) return false;
    uint8_t e = *r->p++;
    const char *simple = NULL;
    switch (e) {
      case '"': simple = "\""; break;
      case '\\': simple = "\\"; break;
      case '/': simple = "/"; break;
      case 'b': simple = "\b"; break;
      case 'f': simple = "\f"; break;
      case 'n': simple = "\n"; break;
      case 'r': simple = "\r"; break;
      case 't': simple = "\t"; break;
      case 'u': {
        uint32_t cp;
        if (!read_hex4(r, &cp)) return false;
        if (cp >= 0xd800 && cp < 0xdc00) {
          uint32_t lo;
          if (!literal(r, "\\u") || !read_hex4(r, &lo) || lo < 0xdc00 || lo >= 0xe000) return false;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          return false;
        }
        if (out) put_utf8(out, cp);
        continue;
      }
      default: return false;
    }
    if (out) buf_str(out, simple);
  }
  return false;
}

static bool read_number(reader_t *r) {
  const uint8_t *start = r->p;
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p >= r->end) return false;
  if (*r->p == '0') r->p++;
  else if (*r->p >= '1' && *r->p <= '9') while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  else return false;
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    const uint8_t *digits = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    if (r->p == digits) return false;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    const uint8_t *digits = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    if (r->p == digits) return false;
  }
  return r->p > start;
}

// What the top level holds, as far as this plugin cares.
typedef enum { NAMES_ABSENT, NAMES_LIST, NAMES_BAD } names_t;

typedef struct {
  names_t kind;
  plugin_list_string_t list;
} wanted_t;

static void push_name(plugin_list_string_t *list, buf_t *name) {
  list->ptr = realloc(list->ptr, (list->len + 1) * sizeof *list->ptr);
  if (!list->ptr) abort();
  plugin_string_dup_n(&list->ptr[list->len++], name->ptr ? name->ptr : "", name->len);
}

static bool read_value(reader_t *r, int level, const char *key, wanted_t *wanted);

// An array; at the top level's "namespaces" key its strings are collected.
static bool read_array(reader_t *r, int level, bool collect, wanted_t *wanted) {
  if (collect) wanted->kind = NAMES_LIST;
  skip_ws(r);
  if (r->p < r->end && *r->p == ']') { r->p++; return true; }
  for (;;) {
    skip_ws(r);
    if (collect && r->p < r->end && *r->p == '"') {
      buf_t name = {0};
      r->p++;
      bool ok = read_string(r, &name);
      if (ok) push_name(&wanted->list, &name);
      free(name.ptr);
      if (!ok) return false;
    } else {
      if (collect) wanted->kind = NAMES_BAD;
      if (!read_value(r, level + 1, NULL, wanted)) return false;
    }
    skip_ws(r);
    if (r->p >= r->end) return false;
    if (*r->p == ',') { r->p++; continue; }
    if (*r->p == ']') { r->p++; return true; }
    return false;
  }
}

static bool read_object(reader_t *r, int level, wanted_t *wanted) {
  skip_ws(r);
  if (r->p < r->end && *r->p == '}') { r->p++; return true; }
  for (;;) {
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') return false;
    r->p++;
    buf_t key = {0};
    bool ok = read_string(r, &key);
    bool is_names = ok && level == 0 && key.len == 10 && memcmp(key.ptr, "namespaces", 10) == 0;
    free(key.ptr);
    if (!ok) return false;
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':') return false;
    r->p++;
    if (!read_value(r, level + 1, is_names ? "namespaces" : NULL, wanted)) return false;
    skip_ws(r);
    if (r->p >= r->end) return false;
    if (*r->p == ',') { r->p++; continue; }
    if (*r->p == '}') { r->p++; return true; }
    return false;
  }
}

static bool read_value(reader_t *r, int level, const char *key, wanted_t *wanted) {
  if (level > 128) return false; // serde_json's recursion limit
  bool names = key != NULL;
  skip_ws(r);
  if (r->p >= r->end) return false;
  switch (*r->p) {
    case '{':
      if (names) wanted->kind = NAMES_BAD;
      r->p++;
      return read_object(r, level, wanted);
    case '[':
      r->p++;
      return read_array(r, level, names, wanted);
    case '"':
      if (names) wanted->kind = NAMES_BAD;
      r->p++;
      return read_string(r, NULL);
    case 't':
      if (names) wanted->kind = NAMES_BAD;
      return literal(r, "true");
    case 'f':
      if (names) wanted->kind = NAMES_BAD;
      return literal(r, "false");
    case 'n':
      // `"namespaces": null` is present and not a list: bad input, as in the Rust plugin.
      if (names) wanted->kind = NAMES_BAD;
      return literal(r, "null");
    default:
      if (names) wanted->kind = NAMES_BAD;
      return read_number(r);
  }
}

// ---- the plugin ----------------------------------------------------------------------------

static const char *code_name(nsplug_netns_types_error_code_t code) {
  static const char *names[] = {
      "denied-by-policy", "permission-denied", "not-found", "already-exists",
      "invalid-argument", "not-supported", "timed-out", "busy",
      "resource-exhausted", "limit-exceeded", "io",
  };
  return code < sizeof names / sizeof names[0] ? names[code] : "io";
}

static void plugin_error(exports_nsplug_netns_handler_plugin_error_t *err, const char *code,
                         const uint8_t *message, size_t len) {
  plugin_string_dup(&err->code, code);
  plugin_string_dup_n(&err->message, (const char *)message, len);
  err->host_error.is_some = false;
}

static void link_json(buf_t *b, const nsplug_netns_types_link_t *l) {
  buf_str(b, "{\"address\":");
  buf_option_string(b, &l->address);
  buf_str(b, ",\"index\":");
  buf_u32(b, l->index);
  buf_str(b, ",\"kind\":");
  buf_option_string(b, &l->kind);
  buf_str(b, ",\"mtu\":");
  if (l->mtu.is_some) buf_u32(b, l->mtu.val);
  else buf_str(b, "null");
  buf_str(b, ",\"name\":");
  buf_wit_string(b, &l->name);
  buf_str(b, ",\"oper_state\":");
  buf_wit_string(b, &l->oper_state);
  buf_str(b, l->up ? ",\"up\":true}" : ",\"up\":false}");
}

static void address_json(buf_t *b, const nsplug_netns_types_address_t *a) {
  buf_str(b, "{\"address\":");
  buf_wit_string(b, &a->address);
  buf_str(b, ",\"index\":");
  buf_u32(b, a->index);
  buf_str(b, ",\"prefix_len\":");
  buf_u32(b, a->prefix_len);
  buf_str(b, ",\"scope\":");
  buf_wit_string(b, &a->scope);
  buf_str(b, "}");
}

static void describe(buf_t *b, plugin_string_t *name) {
  nsplug_netns_namespace_own_netns_t ns;
  nsplug_netns_types_error_code_t code;
  nsplug_netns_batch_list_response_t responses;
  nsplug_netns_batch_batch_error_t batch_err;
  bool ok = nsplug_netns_namespace_static_netns_open(name, &ns, &code);
  if (ok) {
    nsplug_netns_batch_request_t requests[2] = {
        {.tag = NSPLUG_NETNS_BATCH_REQUEST_LINK_LIST},
        {.tag = NSPLUG_NETNS_BATCH_REQUEST_ADDRESS_LIST},
    };
    nsplug_netns_batch_list_request_t list = {.ptr = requests, .len = 2};
    ok = nsplug_netns_batch_run(nsplug_netns_namespace_borrow_netns(ns), &list, &responses, &batch_err);
    if (!ok) code = batch_err.code;
    nsplug_netns_namespace_netns_drop_own(ns);
  }
  if (!ok) {
    buf_str(b, "{\"error\":\"");
    buf_str(b, code_name(code));
    buf_str(b, "\",\"name\":");
    buf_wit_string(b, name);
    buf_str(b, "}");
    return;
  }
  const nsplug_netns_batch_list_link_t *links = NULL;
  const nsplug_netns_batch_list_address_t *addresses = NULL;
  for (size_t i = 0; i < responses.len; i++) {
    if (responses.ptr[i].tag == NSPLUG_NETNS_BATCH_RESPONSE_LINKS) links = &responses.ptr[i].val.links;
    if (responses.ptr[i].tag == NSPLUG_NETNS_BATCH_RESPONSE_ADDRESSES) addresses = &responses.ptr[i].val.addresses;
  }
  buf_str(b, "{\"addresses\":[");
  for (size_t i = 0; addresses && i < addresses->len; i++) {
    if (i) buf_str(b, ",");
    address_json(b, &addresses->ptr[i]);
  }
  buf_str(b, "],\"links\":[");
  for (size_t i = 0; links && i < links->len; i++) {
    if (i) buf_str(b, ",");
    link_json(b, &links->ptr[i]);
  }
  buf_str(b, "],\"name\":");
  buf_wit_string(b, name);
  buf_str(b, "}");
  nsplug_netns_batch_list_response_free(&responses);
}

void exports_nsplug_netns_handler_declare(exports_nsplug_netns_handler_requirements_t *ret) {
  ret->classes.ptr = malloc(sizeof *ret->classes.ptr);
  if (!ret->classes.ptr) abort();
  ret->classes.ptr[0] = NSPLUG_NETNS_TYPES_OP_CLASS_READ;
  ret->classes.len = 1;
  ret->host_namespace = false;
}

static bool is_blank(const plugin_string_t *s) {
  for (size_t i = 0; i < s->len; i++) {
    uint8_t c = s->ptr[i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') return false;
  }
  return true;
}

bool exports_nsplug_netns_handler_handle(plugin_string_t *command, plugin_string_t *input,
                                         plugin_string_t *ret,
                                         exports_nsplug_netns_handler_plugin_error_t *err) {
  bool result = false;
  buf_t out = {0};
  wanted_t wanted = {.kind = NAMES_ABSENT};
  bool known = (command->len == 4 && memcmp(command->ptr, "list", 4) == 0) ||
               (command->len == 3 && memcmp(command->ptr, "run", 3) == 0);
  if (!known) {
    buf_str(&out, "unknown command ");
    buf_wit_string(&out, command);
    buf_str(&out, "; this plugin knows `list` (or `run`)");
    plugin_error(err, "unknown-command", (const uint8_t *)out.ptr, out.len);
    goto done;
  }
  if (!is_blank(input)) {
    reader_t r = {.p = input->ptr, .end = input->ptr + input->len};
    bool parsed = read_value(&r, 0, NULL, &wanted);
    skip_ws(&r);
    if (!parsed || r.p != r.end) {
      char message[96];
      snprintf(message, sizeof message, "input is not JSON: invalid at byte %zu",
               (size_t)(r.p - input->ptr));
      plugin_error(err, "bad-input", (const uint8_t *)message, strlen(message));
      goto done;
    }
    if (wanted.kind == NAMES_BAD) {
      const char *m = "`namespaces` must be a list of strings";
      plugin_error(err, "bad-input", (const uint8_t *)m, strlen(m));
      goto done;
    }
  }
  if (wanted.kind == NAMES_ABSENT) nsplug_netns_namespace_granted(&wanted.list);

  char line[64];
  snprintf(line, sizeof line, "listing %zu namespaces", wanted.list.len);
  plugin_string_t message;
  plugin_string_set(&message, line);
  nsplug_netns_log_log(NSPLUG_NETNS_LOG_LEVEL_INFO, &message);

  buf_str(&out, "{\"namespaces\":[");
  for (size_t i = 0; i < wanted.list.len; i++) {
    if (i) buf_str(&out, ",");
    describe(&out, &wanted.list.ptr[i]);
  }
  buf_str(&out, "]}");
  plugin_string_dup_n(ret, out.ptr, out.len);
  result = true;

done:
  plugin_list_string_free(&wanted.list);
  free(out.ptr);
  plugin_string_free(command);
  plugin_string_free(input);
  return result;
}
