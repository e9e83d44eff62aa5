/**
 * Whether the WebGPU adapter this worker sees has `shader-f16`. ONNX Runtime Web's WebGPU EP creates
 * its GPUDevice inside the engine worker and requires 'shader-f16' on it whenever the adapter offers
 * the feature (onnxruntime core/providers/webgpu/webgpu_context.cc, GetAvailableRequiredFeatures), so
 * the answer here is the answer for ORT's device. Chromium hides the feature on some GPU/driver pairs
 * (NVIDIA on Linux/Vulkan among them); no WebGPU or no adapter counts as no shader-f16.
 */
export async function adapterHasShaderF16(gpu: GPU | undefined = (globalThis.navigator as Navigator & { gpu?: GPU } | undefined)?.gpu): Promise<boolean> {
  if (!gpu) return false;
  try {
    const adapter = await gpu.requestAdapter();
    return adapter?.features.has('shader-f16') ?? false;
  } catch {
    return false;
  }
}
