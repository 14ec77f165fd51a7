//===- LossPlot.cpp - The loss curve as a PNG line plot -------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Draws axes, grid lines at "nice" tick values (1, 2 or 5 times a power of
// ten), tick labels in a built-in 3x5 pixel font (digits and the few letters
// needed) and the curve as a 2-pixel line, then writes the PNG atomically.
//
//===----------------------------------------------------------------------===//

#include "rotor/train.h"

#include "Error.h"
#include "support/AtomicFile.h"
#include "support/Png.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace rotor;

namespace {

constexpr uint32_t black = 0x000000, grid = 0xdddddd, curve = 0x1f77b4;
constexpr int fontScale = 2;

/// 3x5 glyphs, one row per entry, bit 2 the leftmost pixel.
struct Glyph {
  char c;
  uint8_t rows[5];
};
constexpr Glyph glyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}},
    {'3', {7, 1, 7, 1, 7}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}},
    {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}}, {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {2, 5, 7, 4, 3}}, {'s', {3, 4, 2, 1, 6}},
    {'t', {2, 7, 2, 2, 3}}, {'p', {6, 5, 6, 4, 4}}, {'l', {6, 2, 2, 2, 7}},
    {'o', {0, 2, 5, 5, 2}},
};

/// The width in pixels of `text` drawn by drawText.
int textWidth(const std::string &text) {
  return text.empty() ? 0 : static_cast<int>(text.size()) * 4 * fontScale -
                                fontScale;
}

void drawText(RgbImage &image, int x, int y, const std::string &text) {
  for (char c : text) {
    for (const Glyph &glyph : glyphs) {
      if (glyph.c != c)
        continue;
      for (int row = 0; row < 5; ++row)
        for (int column = 0; column < 3; ++column)
          if (glyph.rows[row] & (4 >> column))
            for (int dy = 0; dy < fontScale; ++dy)
              for (int dx = 0; dx < fontScale; ++dx)
                image.set(x + column * fontScale + dx,
                          y + row * fontScale + dy, black);
    }
    x += 4 * fontScale;
  }
}

void drawLine(RgbImage &image, int x0, int y0, int x1, int y1, uint32_t rgb,
              int thickness) {
  int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int error = dx + dy;
  while (true) {
    for (int t = 0; t < thickness; ++t) {
      image.set(x0, y0 + t, rgb);
      image.set(x0 + t, y0, rgb);
    }
    if (x0 == x1 && y0 == y1)
      return;
    int twice = 2 * error;
    if (twice >= dy) {
      error += dy;
      x0 += sx;
    }
    if (twice <= dx) {
      error += dx;
      y0 += sy;
    }
  }
}

/// Tick values covering [low, high]: multiples of 1, 2 or 5 times a power
/// of ten, about five of them.
std::vector<double> ticks(double low, double high) {
  double raw = (high - low) / 5;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double factor : {2.0, 5.0, 10.0})
    if (step < raw)
      step = power * factor;
  std::vector<double> out;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9;
       t += step)
    out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

std::string tickLabel(double value) {
  char text[32];
  double magnitude = std::fabs(value);
  if (magnitude != 0 && (magnitude >= 1e5 || magnitude < 1e-3))
    std::snprintf(text, sizeof(text), "%.1e", value);
  else
    std::snprintf(text, sizeof(text), "%.4g", value);
  return text;
}

} // namespace

rotor_status rotor::train::writeLossPlot(const std::string &path,
                                         const std::vector<double> &step,
                                         const std::vector<double> &loss,
                                         int width, int height) {
  return guard([&]() -> rotor_status {
    if (width < 160 || height < 120 || width > 8192 || height > 8192)
      return fail(ROTOR_ERR_INVALID_ARGUMENT, path, ": a ", width, "x",
                  height,
                  " plot is out of range (160x120 to 8192x8192 pixels)");
    if (step.size() != loss.size())
      return fail(ROTOR_ERR_INVALID_ARGUMENT, path, ": ", step.size(),
                  " steps but ", loss.size(), " losses");
    std::vector<std::pair<double, double>> points;
    for (size_t i = 0; i < step.size(); ++i)
      if (std::isfinite(step[i]) && std::isfinite(loss[i]))
        points.emplace_back(step[i], loss[i]);
    if (points.empty())
      return fail(ROTOR_ERR_INVALID_ARGUMENT, path,
                  ": no finite loss to plot");

    double xLow = points.front().first, xHigh = xLow;
    double yLow = 0, yHigh = 0;
    for (const auto &[x, y] : points) {
      xLow = std::min(xLow, x);
      xHigh = std::max(xHigh, x);
      yLow = std::min(yLow, y);
      yHigh = std::max(yHigh, y);
    }
    if (xHigh == xLow)
      xHigh = xLow + 1;
    if (yHigh == yLow)
      yHigh = yLow + 1;
    yHigh += (yHigh - yLow) * 0.05;

    RgbImage image(width, height);
    const int left = 80, right = width - 20, top = 20, bottom = height - 50;
    auto px = [&](double x) {
      return left + static_cast<int>(std::lround((x - xLow) / (xHigh - xLow) *
                                                 (right - left)));
    };
    auto py = [&](double y) {
      return bottom - static_cast<int>(std::lround(
                          (y - yLow) / (yHigh - yLow) * (bottom - top)));
    };
    for (double t : ticks(yLow, yHigh)) {
      int y = py(t);
      drawLine(image, left, y, right, y, grid, 1);
      drawLine(image, left - 5, y, left, y, black, 1);
      std::string label = tickLabel(t);
      drawText(image, left - 9 - textWidth(label), y - 5, label);
    }
    for (double t : ticks(xLow, xHigh)) {
      int x = px(t);
      drawLine(image, x, top, x, bottom, grid, 1);
      drawLine(image, x, bottom, x, bottom + 5, black, 1);
      std::string label = tickLabel(t);
      drawText(image, x - textWidth(label) / 2, bottom + 10, label);
    }
    drawLine(image, left, top, left, bottom, black, 1);
    drawLine(image, left, bottom, right, bottom, black, 1);
    drawText(image, (left + right - textWidth("step")) / 2, height - 18,
             "step");
    drawText(image, 8, top, "loss");

    for (size_t i = 0; i < points.size(); ++i) {
      int x = px(points[i].first), y = py(points[i].second);
      if (i == 0)
        drawLine(image, x, y, x, y, curve, 2);
      else
        drawLine(image, px(points[i - 1].first), py(points[i - 1].second), x,
                 y, curve, 2);
    }

    std::string png = encodePng(image);
    AtomicFileWriter writer;
    if (rotor_status s = writer.open(path))
      return s;
    if (rotor_status s = writer.write(png.data(), png.size()))
      return s;
    return writer.commit();
  });
}
