/*===- misuse.c - the C API given what a careless caller gives it ---------===*\
|*                                                                            *|
|* Part of Loom, an MLIR-based compiler for transformer models.               *|
|*                                                                            *|
|* usage: loom-capi-misuse ARTIFACT                                           *|
|* Calls every function of the C API with null handles, released handles,    *|
|* negative counts and positions whose sums overflow, and prints one line    *|
|* per case: its name and the status message (or the value returned). Each  *|
|* of them must come back as an error, not a crash; capi.test checks the    *|
|* messages. Then 3000 random calls on a fresh session (a fixed seed).      *|
\*===----------------------------------------------------------------------===*/

#include "loom-c/Runtime.h"

#include <stdint.h>
#include <stdio.h>

static int failures = 0;

/* xorshift64: the random call sequences repeat exactly. */
static uint64_t next(uint64_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static int check2(loom_status_t status) {
  if (!status)
    return 0;
  fprintf(stderr, "error: %s\n", loom_status_message(status));
  loom_status_free(status);
  return 1;
}

/* Prints the status of a call that must fail, and frees it. */
static void expectError(const char *name, loom_status_t status) {
  if (!status) {
    printf("%s: UNEXPECTED SUCCESS\n", name);
    ++failures;
    return;
  }
  printf("%s: %s\n", name, loom_status_message(status));
  loom_status_free(status);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ARTIFACT\n", argv[0]);
    return 2;
  }
  loom_artifact_t *artifact = NULL;
  loom_model_t *model = NULL;
  loom_session_t *session = NULL;
  loom_status_t status = loom_artifact_load(argv[1], &artifact);
  if (!status)
    status = loom_model_open(loom_artifact_model_path(artifact), &model);
  if (!status)
    status = loom_session_create(artifact, model, &session);
  if (status) {
    fprintf(stderr, "error: %s\n", loom_status_message(status));
    return 1;
  }
  const float *logits = NULL;
  int32_t tokens[3] = {1, 2, 3};

  /* Null handles and arguments. */
  expectError("prefill-null-session",
              loom_session_prefill(NULL, tokens, 3, 0, &logits));
  expectError("decode-null-session", loom_session_decode(NULL, 1, 0, &logits));
  expectError("reset-null-session", loom_session_reset(NULL));
  loom_session_t *none = NULL;
  expectError("create-null-artifact", loom_session_create(NULL, model, &none));
  expectError("create-on-null-device",
              loom_session_create_on(artifact, model, NULL, &none));
  expectError("create-on-bad-device",
              loom_session_create_on(artifact, model, "tpu", &none));
  expectError("prefill-null-tokens",
              loom_session_prefill(session, NULL, 3, 0, &logits));
  expectError("prefill-null-out",
              loom_session_prefill(session, tokens, 3, 0, NULL));
  int64_t lengths[2] = {2, 0};
  int64_t floats = 0;
  expectError("encode-null-session",
              loom_session_encode(NULL, "hidden", tokens, NULL, lengths, 1,
                                  &logits, &floats));
  expectError("encode-null-entry",
              loom_session_encode(session, NULL, tokens, NULL, lengths, 1,
                                  &logits, &floats));
  expectError("encode-zero-batch",
              loom_session_encode(session, "hidden", tokens, NULL, lengths, 0,
                                  &logits, &floats));
  expectError("encode-empty-sequence",
              loom_session_encode(session, "hidden", tokens, NULL, lengths, 2,
                                  &logits, &floats));
  expectError("encode-null-out",
              loom_session_encode(session, "hidden", tokens, NULL, lengths, 1,
                                  NULL, &floats));
  printf("vocab-null-session: %lld\n",
         (long long)loom_session_vocab_size(NULL));
  printf("context-null-session: %lld\n",
         (long long)loom_session_context_length(NULL));
  printf("model-path-null-artifact: %s\n",
         loom_artifact_model_path(NULL) ? "not null" : "null");
  loom_session_retain(NULL);
  loom_session_release(NULL);
  loom_model_release(NULL);
  loom_artifact_release(NULL);

  /* Counts and positions. */
  expectError("prefill-negative-count",
              loom_session_prefill(session, tokens, -1, 0, &logits));
  expectError("prefill-zero-count",
              loom_session_prefill(session, tokens, 0, 0, &logits));
  expectError("prefill-overflowing-position",
              loom_session_prefill(session, tokens, 3, INT64_MAX - 1, &logits));
  expectError("decode-max-position",
              loom_session_decode(session, 1, INT64_MAX, &logits));
  expectError("decode-negative-position",
              loom_session_decode(session, 1, -1, &logits));
  expectError("decode-past-context",
              loom_session_decode(
                  session, 1, loom_session_context_length(session), &logits));
  expectError("decode-bad-token", loom_session_decode(session, -5, 0, &logits));

  /* A handle of another kind. */
  expectError(
      "prefill-artifact-as-session",
      loom_session_prefill((loom_session_t *)artifact, tokens, 3, 0, &logits));

  /* Released handles: the session keeps the artifact and model alive, so
   * releasing them here leaves it usable; a second release is reported. */
  loom_artifact_release(artifact);
  loom_model_release(model);
  if (loom_session_decode(session, 1, 0, &logits) || !logits) {
    printf("decode-after-owner-release: FAILED\n");
    ++failures;
  } else {
    printf("decode-after-owner-release: ok\n");
  }
  loom_model_release(model); /* a double release: a message on stderr */
  loom_session_release(session);
  expectError("decode-released-session",
              loom_session_decode(session, 1, 0, &logits));
  printf("vocab-released-session: %lld\n",
         (long long)loom_session_vocab_size(session));
  loom_session_release(session); /* a double release */

  /* Random call sequences: 3000 calls on a fresh session with random
   * counts, positions and tokens (in range and out), resets, retains and
   * releases; every status is allowed, a crash is not. Successful calls
   * must return logits. */
  if (check2(loom_artifact_load(argv[1], &artifact)) ||
      check2(loom_model_open(loom_artifact_model_path(artifact), &model)) ||
      check2(loom_session_create(artifact, model, &session)))
    return 1;
  loom_artifact_release(artifact);
  loom_model_release(model);
  uint64_t state = 0x9e3779b97f4a7c15ull;
  int64_t context = loom_session_context_length(session);
  int64_t vocab = loom_session_vocab_size(session);
  int32_t batch[64];
  int refs = 1, ok = 0, errors = 0;
  for (int call = 0; call < 3000 && refs > 0; ++call) {
    uint64_t r = next(&state);
    int64_t position = (int64_t)(next(&state) % (uint64_t)(context + 8)) - 4;
    if (r % 50 == 0)
      position = (r & 64) ? INT64_MAX - (int64_t)(r % 5) : INT64_MIN;
    int64_t count = (int64_t)(next(&state) % 66) - 1;
    for (int i = 0; i < 64; ++i)
      batch[i] = (int32_t)(next(&state) % (uint64_t)(vocab + 2)) - 1;
    loom_status_t status = NULL;
    logits = NULL;
    switch (r % 8) {
    case 0:
    case 1:
    case 2:
      status = loom_session_decode(session, batch[0], position, &logits);
      break;
    case 3:
    case 4:
      status = loom_session_prefill(session, batch, count, position, &logits);
      break;
    case 5:
      status = loom_session_reset(session);
      break;
    case 6:
      loom_session_retain(session);
      ++refs;
      break;
    case 7:
      if (refs > 1) {
        loom_session_release(session);
        --refs;
      }
      break;
    }
    if (status) {
      ++errors;
      loom_status_free(status);
    } else if (r % 8 < 5) {
      if (!logits) {
        printf("random: call %d succeeded without logits\n", call);
        ++failures;
      }
      ++ok;
    }
  }
  while (refs-- > 0)
    loom_session_release(session);
  printf("random: %s\n", ok > 0 && errors > 0 ? "calls ran and failed cleanly"
                                              : "too few of either kind");
  if (ok == 0 || errors == 0)
    ++failures;
  printf("done, %d unexpected\n", failures);
  return failures != 0;
}
