/*===- encode.c - an encoder's outputs through Loom's C API ---------------===*\
|*                                                                            *|
|* Part of Loom, an MLIR-based compiler for transformer models.               *|
|*                                                                            *|
|* usage: loom-capi-encode ARTIFACT ENTRY OUT.f32 ID... [, ID...]...          *|
|* Runs the encoder entry point ENTRY (hidden, mlm, embed) on the sequences   *|
|* of ids given (separated by ","), as one batch, and writes its float rows   *|
|* to OUT.f32; prints the number of floats.                                   *|
\*===----------------------------------------------------------------------===*/

#include "loom-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(loom_status_t status) {
  if (!status)
    return 0;
  fprintf(stderr, "error: %s\n", loom_status_message(status));
  loom_status_free(status);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s ARTIFACT ENTRY OUT.f32 ID... [, ID...]...\n",
            argv[0]);
    return 2;
  }
  int32_t *tokens = calloc(argc, sizeof(int32_t));
  int64_t *lengths = calloc(argc, sizeof(int64_t));
  int64_t count = 0, batch = 0;
  for (int i = 4; i < argc; ++i) {
    if (strcmp(argv[i], ",") == 0) {
      ++batch;
      continue;
    }
    tokens[count++] = (int32_t)atoi(argv[i]);
    ++lengths[batch];
  }
  ++batch;

  loom_artifact_t *artifact = NULL;
  loom_model_t *model = NULL;
  loom_session_t *session = NULL;
  if (check(loom_artifact_load(argv[1], &artifact)) ||
      check(loom_model_open(loom_artifact_model_path(artifact), &model)) ||
      check(loom_session_create(artifact, model, &session)))
    return 1;
  loom_artifact_release(artifact);
  loom_model_release(model);

  const float *rows = NULL;
  int64_t n = 0;
  if (check(loom_session_encode(session, argv[2], tokens, NULL, lengths, batch,
                                &rows, &n)))
    return 1;
  FILE *out = fopen(argv[3], "wb");
  if (!out || fwrite(rows, sizeof(float), (size_t)n, out) != (size_t)n ||
      fclose(out) != 0) {
    fprintf(stderr, "error: cannot write %s\n", argv[3]);
    return 1;
  }
  printf("%lld floats\n", (long long)n);
  loom_session_release(session);
  free(tokens);
  free(lengths);
  return 0;
}
