/*===- loom-c/Runtime.h - the C API of Loom's runtime ------------*- C -*-===*\
|*                                                                            *|
|* Part of Loom, an MLIR-based compiler for transformer models.               *|
|*                                                                            *|
|* Load a compiled model (an artifact made by `loom-compile -o model.so`),    *|
|* bind it to the weights of a model file, and run it: the prompt in one      *|
|* prefill call, then one decode call per token. Objects are opaque,          *|
|* reference counted (`_retain` / `_release`), created by `_create`/`_open`/  *|
|* `_load` functions that return a status and write the object to their      *|
|* last, `out_` parameter.                                                    *|
|*                                                                            *|
|* Errors: a function returning `loom_status_t` returns NULL on success and  *|
|* otherwise a status holding a message (which names the file, weight or     *|
|* position at fault); free it with `loom_status_free`. On failure an `out_`  *|
|* parameter is set to NULL.                                                  *|
|*                                                                            *|
|* Ownership: a handle starts with one reference, owned by the caller;       *|
|* `_retain` adds one, `_release` drops one, and the last release frees it.  *|
|* A session keeps its artifact and model alive: they may be released right  *|
|* after `loom_session_create`. Logits returned by a session belong to it.   *|
|* `_retain`/`_release` of NULL do nothing. Misuse the runtime can detect    *|
|* (a null handle, a handle of another kind, one already released: every    *|
|* live handle is registered) gives an error status, -1 or NULL from the     *|
|* getters, and a message on stderr from `_retain`/`_release`, never a crash;*|
|* a released handle whose address a new handle has taken cannot be told     *|
|* apart, so using a handle after its last release stays a caller's bug.     *|
|*                                                                            *|
|* Threads: statuses, models and artifacts may be used from any thread;      *|
|* retain and release are atomic. A session is used by one thread at a time  *|
|* (calls on one session must not overlap); different sessions run           *|
|* concurrently, each with its own KV cache.                                 *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef LOOM_C_RUNTIME_H
#define LOOM_C_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===--------------------------------------------------------------------===*\
|* Status                                                                   *|
\*===--------------------------------------------------------------------===*/

typedef struct loom_status_s *loom_status_t;

/* The message of a failed call (valid until the status is freed). */
const char *loom_status_message(loom_status_t status);
void loom_status_free(loom_status_t status);

/*===--------------------------------------------------------------------===*\
|* Model files                                                              *|
\*===--------------------------------------------------------------------===*/

/* A model file (GGUF, llama2.c, safetensors), memory-mapped.
 * Thread safety: immutable once opened; may be shared between threads. */
typedef struct loom_model_s loom_model_t;

loom_status_t loom_model_open(const char *path, loom_model_t **out_model);
void loom_model_retain(loom_model_t *model);
void loom_model_release(loom_model_t *model);

/*===--------------------------------------------------------------------===*\
|* Artifacts                                                                *|
\*===--------------------------------------------------------------------===*/

/* A compiled model loaded from a shared object.
 * Thread safety: immutable once loaded; may be shared between threads. */
typedef struct loom_artifact_s loom_artifact_t;

loom_status_t loom_artifact_load(const char *path,
                                 loom_artifact_t **out_artifact);
void loom_artifact_retain(loom_artifact_t *artifact);
void loom_artifact_release(loom_artifact_t *artifact);
/* The model file the artifact was compiled from (absolute path); NULL for
 * a null or released handle. */
const char *loom_artifact_model_path(const loom_artifact_t *artifact);

/*===--------------------------------------------------------------------===*\
|* Sessions                                                                 *|
\*===--------------------------------------------------------------------===*/

/* An artifact bound to weights, with its KV caches.
 * Thread safety: one thread at a time; sessions are independent. */
typedef struct loom_session_s loom_session_t;

/* Binds every weight the artifact expects to `model` by name. The session
 * keeps both alive. */
loom_status_t loom_session_create(loom_artifact_t *artifact,
                                  loom_model_t *model,
                                  loom_session_t **out_session);
/* The same on `device`: "cpu" (what loom_session_create uses), or "cuda" /
 * "cuda:N" for NVIDIA GPU N through the CUDA driver (libcuda.so.1, loaded
 * when asked for; the artifact must have been compiled with --target=cuda).
 * A missing driver or device is an error status saying so. */
loom_status_t loom_session_create_on(loom_artifact_t *artifact,
                                     loom_model_t *model, const char *device,
                                     loom_session_t **out_session);
void loom_session_retain(loom_session_t *session);
void loom_session_release(loom_session_t *session);

/* The vocabulary size and the KV cache's capacity in positions; -1 for a
 * null or released handle. */
int64_t loom_session_vocab_size(const loom_session_t *session);
int64_t loom_session_context_length(const loom_session_t *session);

/* Runs `count` (>= 1) tokens at positions `position ..`; every position must
 * lie in [0, context_length). `*out_logits` points to `count * vocab_size`
 * floats, valid until the next call on the session. */
loom_status_t loom_session_prefill(loom_session_t *session,
                                   const int32_t *tokens, int64_t count,
                                   int64_t position, const float **out_logits);
/* Runs one token at `position`; `*out_logits` as above (one row). */
loom_status_t loom_session_decode(loom_session_t *session, int32_t token,
                                  int64_t position, const float **out_logits);
/* Forgets every cached position. */
loom_status_t loom_session_reset(loom_session_t *session);

/* Encoders (BERT): runs the entry point `entry` ("hidden": last hidden
 * states, "mlm": masked-LM logits, "embed": the sentence embedding) on
 * `batch` (>= 1) sequences of `lengths[0]`, `lengths[1]`, ... tokens (each
 * >= 1), whose ids lie one after the other in `tokens` and whose token
 * types in `token_types` (null: type 0 for every token). Each sequence
 * attends to its own tokens only. `*out` points to the rows in the order
 * of the sequences (one per token for "hidden" and "mlm", one per
 * sequence for "embed"), `*out_count` floats in all, valid until the next
 * call on the session. A decoder's session, or an entry the model lacks,
 * is an error status. */
loom_status_t loom_session_encode(loom_session_t *session, const char *entry,
                                  const int32_t *tokens,
                                  const int32_t *token_types,
                                  const int64_t *lengths, int64_t batch,
                                  const float **out, int64_t *out_count);

/*===--------------------------------------------------------------------===*\
|* Profiling                                                                *|
\*===--------------------------------------------------------------------===*/

/* Kernel times, for the whole process (as `loom-run --profile`): while
 * `loom_profile_enable(1)` is in force, every session's calls time each
 * kernel they run (the CPU with the host's clock, a GPU with CUDA events)
 * and add the times up by the model's op. `loom_profile_reset` forgets
 * them. `loom_profile_json` writes the times so far as JSON, an array of
 * {"entry", "op", "kernels", "runs", "seconds"} (layers of one op added
 * together, most time first), NUL-terminated into `buffer` when `size`
 * bytes hold it, and returns its length without the NUL (so a call with
 * size 0 asks how much room it needs). */
void loom_profile_enable(int on);
void loom_profile_reset(void);
int64_t loom_profile_json(char *buffer, int64_t size);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_C_RUNTIME_H */
