// carbonedge.kernels._native: the pybind11 module of the compiled core.
//
// Bindings only: each kernel lives in a header-only file next to this one. The public wrappers in
// carbonedge.kernels validate and coerce input (dtype, shape, contiguity) before calling here;
// the bindings still check shapes so that a direct call cannot read out of bounds.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "boxes.hpp"

namespace py = pybind11;

namespace {

using F32Array = py::array_t<float, py::array::c_style>;
using I32Array = py::array_t<int32_t, py::array::c_style>;

void require_boxes(const F32Array& arr, const char* name) {
    if (arr.ndim() != 2 || arr.shape(1) != 4) {
        throw std::invalid_argument(std::string(name) + " must have shape (N, 4)");
    }
}

py::array_t<float> box_iou(const F32Array& a, const F32Array& b) {
    require_boxes(a, "a_xyxy");
    require_boxes(b, "b_xyxy");
    const int64_t n = a.shape(0), m = b.shape(0);
    py::array_t<float> out({n, m});
    const float* pa = a.data();
    const float* pb = b.data();
    float* po = out.mutable_data();
    {
        py::gil_scoped_release release;
        carbonedge::box_iou_matrix(pa, n, pb, m, po);
    }
    return out;
}

py::array_t<int64_t> nms(const F32Array& xyxy, const F32Array& scores, float iou_threshold,
                         const std::optional<I32Array>& group_id, int64_t max_det) {
    require_boxes(xyxy, "xyxy");
    const int64_t n = xyxy.shape(0);
    if (scores.ndim() != 1 || scores.shape(0) != n) {
        throw std::invalid_argument("scores must have shape (N,)");
    }
    const int32_t* groups = nullptr;
    if (group_id) {
        if (group_id->ndim() != 1 || group_id->shape(0) != n) {
            throw std::invalid_argument("group_id must have shape (N,)");
        }
        groups = group_id->data();
    }
    const float* boxes = xyxy.data();
    const float* s = scores.data();
    std::vector<int64_t> keep;
    {
        py::gil_scoped_release release;
        keep = carbonedge::nms_greedy(boxes, s, groups, n, iou_threshold, max_det);
    }
    py::array_t<int64_t> out(static_cast<py::ssize_t>(keep.size()));
    std::copy(keep.begin(), keep.end(), out.mutable_data());
    return out;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "carbonedge native kernels (pybind11 C++); use the wrappers in carbonedge.kernels";
    m.def("box_iou", &box_iou, py::arg("a_xyxy"), py::arg("b_xyxy"),
          "(N, M) float32 IoU of float32 C-contiguous (N, 4) and (M, 4) xyxy boxes.");
    m.def("nms", &nms, py::arg("xyxy"), py::arg("scores"), py::arg("iou_threshold"),
          py::arg("group_id") = py::none(), py::arg("max_det") = 300,
          "Greedy NMS; int64 kept indices by descending score (ties: lower index first).");
}
