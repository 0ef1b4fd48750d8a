// Flat regions of a line drawing on the CPU: the C++ fast path of
// fastcolor.flats.find_regions, equal label for label to the NumPy/OpenCV reference
// fastcolor/flats/reference.py (its module doc states the six steps this follows:
// ink, gap closing at skeleton end points, 4-connected paper regions, trapping under
// the lines, merging of small regions, renumbering in raster order).
//
// Every step is one pass or a worklist over the pixels it touches: Zhang-Suen thinning
// tests 64 pixels a word and only the words next to a change, end points search a small
// window with a stamp array (OpenMP across end points when they are heavy), paper
// regions are runs joined by union-find, trapping is an exact two-pass L1 distance
// transform of (distance, label) keys, and small regions merge from pair counts taken
// once. Results do not depend on the number of threads.
#pragma once

#include <cstdint>

namespace fastcolor {

// Labels 0..n-1 of the (height x width) row-major 8-bit gray `gray` (0 = ink), written to
// `labels` (height x width int32). Ink is `gray < threshold`; `gap`, `min_area` as in
// fastcolor.flats.find_regions. Throws std::invalid_argument on bad arguments.
void flat_regions(const uint8_t* gray, int64_t height, int64_t width, int64_t gap,
                  int64_t min_area, int64_t threshold, int32_t* labels);

}  // namespace fastcolor
