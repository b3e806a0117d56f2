/*===- greedy.c - greedy generation through Loom's C API ------------------===*\
|*                                                                            *|
|* Part of Loom, an MLIR-based compiler for transformer models.               *|
|*                                                                            *|
|* usage: loom-capi-greedy ARTIFACT STEPS TOKEN...                            *|
|* Prefills the given token ids, then decodes greedily until STEPS positions  *|
|* have run, and prints every id of the sequence (the prompt, then one id    *|
|* per position), as llama2.c's run.c forwards them. Plain C: it checks that  *|
|* the header is C and the API is enough to write a generation loop.         *|
|* $LOOM_DEVICE names the session's device (loom_session_create_on).         *|
|* With $LOOM_PROFILE=1 it profiles the decode steps (loom_profile_enable)   *|
|* and prints their kernel times as JSON on stderr.                          *|
\*===----------------------------------------------------------------------===*/

#include "loom-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>

static int check(loom_status_t status) {
  if (!status)
    return 0;
  fprintf(stderr, "error: %s\n", loom_status_message(status));
  loom_status_free(status);
  return 1;
}

static int32_t argmax(const float *row, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (row[i] > row[best])
      best = (int32_t)i;
  return best;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s ARTIFACT STEPS TOKEN...\n", argv[0]);
    return 2;
  }
  int64_t steps = atoll(argv[2]);
  int64_t count = argc - 3;
  int32_t *sequence = calloc(steps + count + 1, sizeof(int32_t));
  for (int64_t i = 0; i < count; ++i)
    sequence[i] = (int32_t)atoi(argv[3 + i]);

  loom_artifact_t *artifact = NULL;
  loom_model_t *model = NULL;
  loom_session_t *session = NULL;
  if (check(loom_artifact_load(argv[1], &artifact)) ||
      check(loom_model_open(loom_artifact_model_path(artifact), &model)) ||
      check(loom_session_create_on(
          artifact, model,
          getenv("LOOM_DEVICE") ? getenv("LOOM_DEVICE") : "cpu", &session)))
    return 1;
  /* The session keeps the artifact and the model alive. */
  loom_artifact_release(artifact);
  loom_model_release(model);

  int profile = getenv("LOOM_PROFILE") && atoi(getenv("LOOM_PROFILE")) == 1;
  int64_t vocab = loom_session_vocab_size(session);
  const float *logits = NULL;
  if (check(loom_session_prefill(session, sequence, count, 0, &logits)))
    return 1;
  int64_t length = count;
  const float *last = logits + (count - 1) * vocab;
  loom_profile_reset();
  loom_profile_enable(profile);
  for (int64_t pos = count - 1; pos < steps; ++pos) {
    int32_t next = argmax(last, vocab);
    sequence[length++] = next;
    if (pos + 1 >= steps)
      break;
    if (check(loom_session_decode(session, next, pos + 1, &logits)))
      return 1;
    last = logits;
  }
  loom_profile_enable(0);
  for (int64_t i = 0; i < length; ++i)
    printf("%s%d", i ? " " : "", sequence[i]);
  printf("\n");
  if (profile) {
    /* The size first, then the text. */
    int64_t size = loom_profile_json(NULL, 0);
    char *json = malloc((size_t)size + 1);
    if (!json || loom_profile_json(json, size + 1) != size)
      return 1;
    fprintf(stderr, "%s\n", json);
    free(json);
  }
  loom_session_release(session);
  free(sequence);
  return 0;
}
