//===- Png.h - A dependency-free PNG encoder --------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Encodes 8-bit RGB images as PNG without zlib: the image data goes into
// "stored" (uncompressed) deflate blocks inside the zlib stream, with the
// Adler-32 checksum it needs, and every chunk carries its CRC-32. Files are
// larger than compressed ones but valid for every PNG reader.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_SUPPORT_PNG_H
#define ROTOR_SRC_SUPPORT_PNG_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rotor {

/// An RGB raster, row-major, 3 bytes per pixel, top row first.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;

  RgbImage(int width, int height, uint32_t fill = 0xffffff);
  /// Sets pixel (x, y) to 0xRRGGBB; ignores pixels outside the image.
  void set(int x, int y, uint32_t rgb);
  uint32_t get(int x, int y) const;
};

/// CRC-32 (ISO 3309, as PNG and zlib use) of `size` bytes, continuing from
/// `crc` (0 to start).
uint32_t crc32(const void *data, size_t size, uint32_t crc = 0);

/// Adler-32 of `size` bytes, continuing from `adler` (1 to start).
uint32_t adler32(const void *data, size_t size, uint32_t adler = 1);

/// The complete PNG file for `image` (color type 2, bit depth 8, no
/// interlace, filter type 0 on every row).
std::string encodePng(const RgbImage &image);

} // namespace rotor

#endif // ROTOR_SRC_SUPPORT_PNG_H
