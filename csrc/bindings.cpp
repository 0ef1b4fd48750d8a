// Python bindings of fastcolor._C.
#include <pybind11/numpy.h>
#include <torch/extension.h>

#include "cached_pixelcnn.h"
#include "flats.h"

namespace {

// flat_regions on a C-contiguous uint8 (H, W) numpy array -> int32 (H, W) tensor. Runs
// without the GIL: only the array's fields are read (the caller's argument keeps it
// alive), and a torch tensor, unlike a numpy array, is made without Python.
torch::Tensor flat_regions(const pybind11::array_t<uint8_t, pybind11::array::c_style>& gray,
                           int64_t gap, int64_t min_area, int64_t threshold) {
  TORCH_CHECK_VALUE(gray.ndim() == 2, "flat_regions: gray must be uint8 (H, W), got ",
                    gray.ndim(), " dimensions");
  const int64_t h = gray.shape(0), w = gray.shape(1);
  auto labels = torch::empty({h, w}, torch::kInt32);
  fastcolor::flat_regions(gray.data(), h, w, gap, min_area, threshold,
                          labels.data_ptr<int32_t>());
  return labels;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "fastcolor._C: cached (incremental) PixelCNN generation on the CPU, and the "
            "flat regions of a line drawing (fastcolor.flats)";
  pybind11::class_<fastcolor::CachedPixelCNN>(m, "CachedPixelCNN")
      .def(pybind11::init<const std::vector<std::vector<torch::Tensor>>&,
                          const std::vector<torch::Tensor>&, int>(),
           pybind11::arg("blocks"), pybind11::arg("head"), pybind11::arg("mixtures"))
      .def("generate", &fastcolor::CachedPixelCNN::generate, pybind11::arg("cond"),
           pybind11::arg("noise"), pybind11::arg("hints"), pybind11::arg("hint_mask"),
           pybind11::arg("temperature"),
           pybind11::call_guard<pybind11::gil_scoped_release>())
      .def("teacher_forced_params", &fastcolor::CachedPixelCNN::teacher_forced_params,
           pybind11::arg("cond"), pybind11::arg("x"),
           pybind11::call_guard<pybind11::gil_scoped_release>())
      .def_property_readonly("mixtures", &fastcolor::CachedPixelCNN::mixtures)
      .def_property_readonly("channels", &fastcolor::CachedPixelCNN::channels)
      .def_property_readonly("cond_channels", &fastcolor::CachedPixelCNN::cond_channels)
      .def_property_readonly("num_blocks", &fastcolor::CachedPixelCNN::num_blocks);
  m.def("flat_regions", &flat_regions,
        "Region labels int32 (H, W), 0..n-1, of a line drawing's 8-bit gray (a C-contiguous "
        "uint8 (H, W) numpy array, 0 = ink): fastcolor.flats.find_regions' C++ path",
        pybind11::arg("gray").noconvert(), pybind11::arg("gap"), pybind11::arg("min_area"),
        pybind11::arg("threshold"), pybind11::call_guard<pybind11::gil_scoped_release>());
}
