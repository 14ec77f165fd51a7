//===- Png.cpp - A dependency-free PNG encoder ----------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "support/Png.h"

#include <algorithm>
#include <array>

using namespace rotor;

RgbImage::RgbImage(int width, int height, uint32_t fill)
    : width(width), height(height),
      pixels(static_cast<size_t>(width) * static_cast<size_t>(height) * 3) {
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      set(x, y, fill);
}

void RgbImage::set(int x, int y, uint32_t rgb) {
  if (x < 0 || y < 0 || x >= width || y >= height)
    return;
  uint8_t *pixel = &pixels[(static_cast<size_t>(y) * width + x) * 3];
  pixel[0] = static_cast<uint8_t>(rgb >> 16);
  pixel[1] = static_cast<uint8_t>(rgb >> 8);
  pixel[2] = static_cast<uint8_t>(rgb);
}

uint32_t RgbImage::get(int x, int y) const {
  const uint8_t *pixel = &pixels[(static_cast<size_t>(y) * width + x) * 3];
  return uint32_t(pixel[0]) << 16 | uint32_t(pixel[1]) << 8 | pixel[2];
}

uint32_t rotor::crc32(const void *data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k)
        c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  const uint8_t *bytes = static_cast<const uint8_t *>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t rotor::adler32(const void *data, size_t size, uint32_t adler) {
  const uint8_t *bytes = static_cast<const uint8_t *>(data);
  uint32_t a = adler & 0xffff, b = adler >> 16;
  for (size_t i = 0; i < size; ++i) {
    a = (a + bytes[i]) % 65521;
    b = (b + a) % 65521;
  }
  return b << 16 | a;
}

namespace {

void putBigEndian(std::string &out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}

void putChunk(std::string &out, const char type[4], const std::string &data) {
  putBigEndian(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  putBigEndian(out, crc32(body.data(), body.size()));
}

} // namespace

std::string rotor::encodePng(const RgbImage &image) {
  // The raw scanlines: a filter byte (0, none) before each row.
  std::string raw;
  size_t rowBytes = static_cast<size_t>(image.width) * 3;
  raw.reserve((rowBytes + 1) * image.height);
  for (int y = 0; y < image.height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char *>(&image.pixels[y * rowBytes]),
               rowBytes);
  }

  // zlib: CMF (deflate, 32K window) and FLG (no dictionary, fastest; the
  // pair is a multiple of 31), stored blocks of at most 65535 bytes, each
  // with BFINAL/BTYPE=00, LEN and its one's complement NLEN, then Adler-32.
  std::string zlib = {'\x78', '\x01'};
  size_t position = 0;
  do {
    size_t length = std::min<size_t>(65535, raw.size() - position);
    bool last = position + length == raw.size();
    zlib.push_back(last ? '\x01' : '\x00');
    zlib.push_back(static_cast<char>(length & 0xff));
    zlib.push_back(static_cast<char>(length >> 8));
    zlib.push_back(static_cast<char>(~length & 0xff));
    zlib.push_back(static_cast<char>((~length >> 8) & 0xff));
    zlib.append(raw, position, length);
    position += length;
  } while (position < raw.size());
  putBigEndian(zlib, adler32(raw.data(), raw.size()));

  std::string header;
  putBigEndian(header, static_cast<uint32_t>(image.width));
  putBigEndian(header, static_cast<uint32_t>(image.height));
  header += {'\x08', '\x02', '\x00', '\x00', '\x00'};

  std::string png = "\x89PNG\r\n\x1a\n";
  putChunk(png, "IHDR", header);
  putChunk(png, "IDAT", zlib);
  putChunk(png, "IEND", "");
  return png;
}
