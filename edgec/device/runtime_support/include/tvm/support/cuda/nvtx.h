/*
 * Copyright the edgec authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*!
 * \file tvm/support/cuda/nvtx.h
 * \brief NVTXScopedRange: a scoped profiler range marker, here a no-op.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * under this include path. It exists because TVM's PyPI wheel ships the runtime sources
 * but not this header; it was written from how those sources use it (src/runtime/vm/vm.cc
 * and paged_kv_cache.cc mark ranges for NVIDIA's NVTX profiler). edgec builds the runtime
 * without CUDA, so the range does nothing.
 */
#ifndef TVM_SUPPORT_CUDA_NVTX_H_
#define TVM_SUPPORT_CUDA_NVTX_H_

namespace tvm {
namespace support {

/*! \brief Marks a named range for the lifetime of the object (no-op without CUDA). */
class NVTXScopedRange {
 public:
  /*! \param name The range name (a C string or std::string; ignored). */
  template <typename NameType>
  explicit NVTXScopedRange(const NameType& name) {
    (void)name;
  }
  NVTXScopedRange(const NVTXScopedRange&) = delete;
  NVTXScopedRange& operator=(const NVTXScopedRange&) = delete;
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_CUDA_NVTX_H_
