// Prints the PTX of ROTOR_CUDA_PROFILE's hold kernel (profile-hold-ptx.test).
#include "cuda/ProfileHold.h"

#include <cstdio>

int main() {
  std::fputs(rotor::cuda::profileHoldPtx, stdout);
  return 0;
}
