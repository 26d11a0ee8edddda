/* CTC loss and gradient from C through seqloss's C ABI (csrc/seqloss.h, libseqloss.so), on the CPU backend.
 *
 *   cd node_modules/seqloss
 *   cc -std=c11 examples/c/ctc_loss.c -Icsrc -Lprebuilds/linux-x64 -lseqloss -lm \
 *      -Wl,-rpath,"$PWD/prebuilds/linux-x64" -o ctc_loss && ./ctc_loss
 *
 * (build/Release instead of prebuilds/linux-x64 where the install compiled the addon). Every operation is called the same way: describe the problem, ask for the workspace
 * size, call with a workspace of that size; a status other than SEQLOSS_OK comes with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "seqloss.h"

int main(void) {
  enum { N = 2, T = 12, C = 5 };
  static float logits[N * T * C];
  for (int i = 0; i < N * T * C; i++) logits[i] = (float)sin(0.37 * i); /* any logits, NTC order */
  const int32_t targets[] = {1, 2, 2, 3, 4}; /* sequence 0: 1 2 2; sequence 1: 3 4 */
  const int32_t target_lengths[] = {3, 2};
  const int32_t input_lengths[] = {12, 9};

  seqloss_problem problem = {0};
  problem.batch = N;
  problem.time = T;
  problem.classes = C;
  problem.layout = SEQLOSS_LAYOUT_NTC;
  problem.input = SEQLOSS_INPUT_LOGITS;
  problem.blank = 0;
  problem.data = logits;
  problem.data_size = N * T * C;
  problem.input_lengths = input_lengths;
  problem.input_lengths_size = N;
  problem.targets = targets;
  problem.targets_size = 5;
  problem.target_lengths = target_lengths;
  problem.target_lengths_size = N;

  seqloss_ctc_options options = {0}; /* zeroed: plain CTC, exact gradient */
  options.reduction = SEQLOSS_REDUCTION_MEAN;
  seqloss_exec exec = {0}; /* CPU backend, host memory, one thread per hardware thread */
  exec.backend = SEQLOSS_BACKEND_CPU;
  exec.memory = SEQLOSS_MEMORY_HOST;

  float losses[N];
  double loss = 0;
  static float grad[N * T * C];
  seqloss_ctc_outputs outputs = {0};
  outputs.losses = losses;
  outputs.losses_size = N;
  outputs.loss = &loss;
  outputs.grad = grad;
  outputs.grad_size = N * T * C;

  char message[512];
  size_t bytes = 0;
  seqloss_status status = seqloss_ctc_workspace_size(&problem, &options, &exec, &bytes, message, sizeof message);
  void* workspace = status == SEQLOSS_OK ? malloc(bytes ? bytes : 1) : NULL;
  if (status == SEQLOSS_OK)
    status = seqloss_ctc(&problem, &options, &exec, &outputs, workspace, bytes, message, sizeof message);
  free(workspace);
  if (status != SEQLOSS_OK) {
    fprintf(stderr, "seqloss: %s: %s\n", seqloss_status_name(status), message);
    return 1;
  }
  printf("seqloss %s (C ABI %d)\n", seqloss_version(), (int)seqloss_abi_version());
  printf("losses %.6f %.6f\nloss %.6f\n", losses[0], losses[1], loss);
  return 0;
}
