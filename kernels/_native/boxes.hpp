// Axis-aligned box kernels: pairwise IoU and greedy (optionally grouped) NMS.
//
// Boxes are float32 (x1, y1, x2, y2) in pixels, C-contiguous (N, 4). Widths and heights are
// clamped at zero, so degenerate boxes have zero area; IoU is inter / union, 0 when union <= 0.
// These functions touch no Python objects: the bindings call them with the GIL released.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <unordered_map>
#include <vector>

namespace carbonedge {

inline float box_area(const float* b) {
    return std::max(b[2] - b[0], 0.0f) * std::max(b[3] - b[1], 0.0f);
}

// IoU of box a (with area_a) and box b (with area_b); same float operations as the reference.
inline float box_pair_iou(const float* a, float area_a, const float* b, float area_b) {
    const float iw = std::max(std::min(a[2], b[2]) - std::max(a[0], b[0]), 0.0f);
    const float ih = std::max(std::min(a[3], b[3]) - std::max(a[1], b[1]), 0.0f);
    const float inter = iw * ih;
    const float uni = (area_a + area_b) - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

// out (n, m) row-major = IoU of every a row with every b row. b is transposed to SoA first so the
// inner loop is branch-free and vectorisable.
inline void box_iou_matrix(const float* a, int64_t n, const float* b, int64_t m, float* out) {
    std::vector<float> bx1(m), by1(m), bx2(m), by2(m), barea(m);
    for (int64_t j = 0; j < m; ++j) {
        bx1[j] = b[4 * j];
        by1[j] = b[4 * j + 1];
        bx2[j] = b[4 * j + 2];
        by2[j] = b[4 * j + 3];
        barea[j] = box_area(b + 4 * j);
    }
    for (int64_t i = 0; i < n; ++i) {
        const float ax1 = a[4 * i], ay1 = a[4 * i + 1], ax2 = a[4 * i + 2], ay2 = a[4 * i + 3];
        const float aarea = box_area(a + 4 * i);
        float* row = out + i * m;
        for (int64_t j = 0; j < m; ++j) {
            const float iw = std::max(std::min(ax2, bx2[j]) - std::max(ax1, bx1[j]), 0.0f);
            const float ih = std::max(std::min(ay2, by2[j]) - std::max(ay1, by1[j]), 0.0f);
            const float inter = iw * ih;
            const float uni = (aarea + barea[j]) - inter;
            row[j] = uni > 0.0f ? inter / uni : 0.0f;
        }
    }
}

// Greedy NMS. Candidates are visited by descending score (ties: lower index first; NaN scores
// are never kept); a candidate is kept unless its IoU with a kept box of the same group is
// > iou_threshold. group may be null (one group). Stops after max_det kept boxes.
inline std::vector<int64_t> nms_greedy(const float* xyxy, const float* scores, const int32_t* group,
                                       int64_t n, float iou_threshold, int64_t max_det) {
    std::vector<int64_t> order;
    order.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isnan(scores[i])) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(),
                     [scores](int64_t l, int64_t r) { return scores[l] > scores[r]; });

    // Kept boxes of each group, packed as (x1, y1, x2, y2, area) for a cache-friendly scan.
    std::unordered_map<int32_t, std::vector<float>> kept_by_group;
    std::vector<int64_t> keep;
    keep.reserve(static_cast<size_t>(std::max<int64_t>(std::min<int64_t>(max_det, n), 0)));
    for (const int64_t i : order) {
        if (static_cast<int64_t>(keep.size()) >= max_det) break;
        const float* box = xyxy + 4 * i;
        const float area = box_area(box);
        std::vector<float>& kept = kept_by_group[group ? group[i] : 0];
        bool suppressed = false;
        for (size_t k = 0; k < kept.size(); k += 5) {
            if (box_pair_iou(box, area, &kept[k], kept[k + 4]) > iou_threshold) {
                suppressed = true;
                break;
            }
        }
        if (suppressed) continue;
        kept.insert(kept.end(), {box[0], box[1], box[2], box[3], area});
        keep.push_back(i);
    }
    return keep;
}

}  // namespace carbonedge
