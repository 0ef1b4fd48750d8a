// Python bindings of fastcolor._C.
#include <torch/extension.h>

#include "cached_pixelcnn.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "fastcolor._C: cached (incremental) PixelCNN generation on the CPU";
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
}
