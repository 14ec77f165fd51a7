//===- PngTest.cpp - The PNG encoder and the loss plot --------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Decodes the files with an independent reader: chunk layout and CRCs
// (bitwise CRC-32, not the encoder's table), IHDR, the zlib stream's header,
// stored blocks (LEN/NLEN) and Adler-32 (computed here), the filter bytes,
// then checks pixels.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"
#include "rotor/train.h"
#include "support/Png.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace rotor;
using namespace rotor::test;
using ::testing::HasSubstr;

namespace {

uint32_t bitwiseCrc(const std::string &bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

uint32_t bigEndian(const std::string &bytes, size_t at) {
  return uint32_t(uint8_t(bytes[at])) << 24 | uint32_t(uint8_t(bytes[at + 1])) << 16 |
         uint32_t(uint8_t(bytes[at + 2])) << 8 | uint8_t(bytes[at + 3]);
}

/// A decoded RGB PNG; `error` says what was invalid.
struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  std::string error;

  uint32_t at(int x, int y) const {
    const uint8_t *p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
  }
};

Decoded decode(const std::string &png) {
  Decoded out;
  if (png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
    out.error = "bad signature";
    return out;
  }
  std::string idat;
  std::vector<std::string> order;
  size_t at = 8;
  while (at < png.size()) {
    if (at + 12 > png.size()) {
      out.error = "truncated chunk";
      return out;
    }
    uint32_t length = bigEndian(png, at);
    std::string typeAndData = png.substr(at + 4, 4 + length);
    if (bitwiseCrc(typeAndData) != bigEndian(png, at + 8 + length)) {
      out.error = "bad CRC in " + typeAndData.substr(0, 4);
      return out;
    }
    std::string type = typeAndData.substr(0, 4), data = typeAndData.substr(4);
    order.push_back(type);
    if (type == "IHDR") {
      out.width = static_cast<int>(bigEndian(data, 0));
      out.height = static_cast<int>(bigEndian(data, 4));
      if (data.size() != 13 || data.substr(8) != std::string("\x08\x02\0\0\0", 5)) {
        out.error = "unexpected IHDR";
        return out;
      }
    } else if (type == "IDAT") {
      idat += data;
    }
    at += 12 + length;
  }
  if (order.front() != "IHDR" || order.back() != "IEND") {
    out.error = "chunk order";
    return out;
  }
  // zlib: header, stored blocks, Adler-32.
  if ((uint8_t(idat[0]) * 256 + uint8_t(idat[1])) % 31 != 0 ||
      (idat[0] & 0x0f) != 8) {
    out.error = "bad zlib header";
    return out;
  }
  std::string raw;
  size_t pos = 2;
  bool last = false;
  while (!last) {
    last = idat[pos] & 1;
    if ((idat[pos] >> 1 & 3) != 0) {
      out.error = "not a stored block";
      return out;
    }
    uint16_t len = uint8_t(idat[pos + 1]) | uint8_t(idat[pos + 2]) << 8;
    uint16_t nlen = uint8_t(idat[pos + 3]) | uint8_t(idat[pos + 4]) << 8;
    if (static_cast<uint16_t>(~len) != nlen) {
      out.error = "LEN/NLEN mismatch";
      return out;
    }
    raw += idat.substr(pos + 5, len);
    pos += 5 + len;
  }
  uint32_t a = 1, b = 0;
  for (unsigned char byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  if (pos + 4 != idat.size() || bigEndian(idat, pos) != (b << 16 | a)) {
    out.error = "bad Adler-32";
    return out;
  }
  size_t row = static_cast<size_t>(out.width) * 3 + 1;
  if (raw.size() != row * out.height) {
    out.error = "wrong image data size";
    return out;
  }
  for (int y = 0; y < out.height; ++y) {
    if (raw[y * row] != 0) {
      out.error = "unexpected filter type";
      return out;
    }
    out.rgb.insert(out.rgb.end(), raw.begin() + y * row + 1,
                   raw.begin() + (y + 1) * row);
  }
  return out;
}

} // namespace

TEST(PngTest, EncodesAValidFile) {
  // Large enough for several stored blocks (each at most 65535 bytes).
  RgbImage image(301, 97, 0x102030);
  image.set(0, 0, 0xff0000);
  image.set(300, 96, 0x00ff00);
  image.set(-1, 5, 0);   // outside: ignored
  image.set(301, 5, 0);  // outside: ignored
  Decoded decoded = decode(encodePng(image));
  ASSERT_EQ(decoded.error, "");
  EXPECT_EQ(decoded.width, 301);
  EXPECT_EQ(decoded.height, 97);
  EXPECT_EQ(decoded.at(0, 0), 0xff0000u);
  EXPECT_EQ(decoded.at(300, 96), 0x00ff00u);
  EXPECT_EQ(decoded.at(150, 50), 0x102030u);
  // The encoder's checksums agree with the definitions (check values of
  // "123456789").
  EXPECT_EQ(crc32("123456789", 9), 0xcbf43926u);
  EXPECT_EQ(adler32("123456789", 9), 0x091e01deu);
}

TEST(PngTest, PlotsTheLossCurve) {
  TempDir root;
  std::vector<double> steps, losses;
  for (int i = 1; i <= 200; ++i) {
    steps.push_back(i);
    losses.push_back(2.5 * std::exp(-i / 30.0));
  }
  losses[50] = NAN; // left out
  std::string path = root.file("loss.png");
  ASSERT_EQ(train::writeLossPlot(path, steps, losses, 640, 400), ROTOR_OK)
      << rotor_last_error();
  Decoded decoded = decode(readFileBytes(path));
  ASSERT_EQ(decoded.error, "");
  ASSERT_EQ(decoded.width, 640);
  ASSERT_EQ(decoded.height, 400);
  // The curve's color: its leftmost pixels are high, its rightmost low.
  const uint32_t curve = 0x1f77b4;
  int leftY = -1, rightY = -1, leftX = 640, rightX = -1, count = 0;
  for (int y = 0; y < 400; ++y)
    for (int x = 0; x < 640; ++x)
      if (decoded.at(x, y) == curve) {
        ++count;
        if (x < leftX || (x == leftX && y < leftY)) {
          leftX = x;
          leftY = y;
        }
        if (x > rightX || (x == rightX && y > rightY)) {
          rightX = x;
          rightY = y;
        }
      }
  EXPECT_GT(count, 500);
  EXPECT_LT(leftX, 100);
  EXPECT_GT(rightX, 600);
  EXPECT_LT(leftY, 60);
  EXPECT_GT(rightY, 320);
  // Axes in black along the left and bottom of the plot area.
  EXPECT_EQ(decoded.at(80, 200), 0u);
  EXPECT_EQ(decoded.at(300, 350), 0u);
  EXPECT_EQ(decoded.at(630, 5), 0xffffffu);
}

TEST(PngTest, RejectsBadPlots) {
  TempDir root;
  std::string path = root.file("loss.png");
  EXPECT_EQ(train::writeLossPlot(path, {1, 2}, {1, 2}, 100, 50),
            ROTOR_ERR_INVALID_ARGUMENT);
  EXPECT_THAT(rotor_last_error(), HasSubstr("out of range"));
  EXPECT_NE(train::writeLossPlot(path, {1, 2}, {1}), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("2 steps but 1 losses"));
  EXPECT_NE(train::writeLossPlot(path, {1, 2}, {NAN, INFINITY}), ROTOR_OK);
  EXPECT_THAT(rotor_last_error(), HasSubstr("no finite loss"));
  EXPECT_FALSE(exists(path));
  // One point, a flat curve: still a valid plot.
  ASSERT_EQ(train::writeLossPlot(path, {1}, {0.5}), ROTOR_OK);
  EXPECT_EQ(decode(readFileBytes(path)).error, "");
  EXPECT_NE(train::writeLossPlot(root.file("no/such/dir.png"), {1}, {1}),
            ROTOR_OK);
}
