// The Ascend 310 file protocol (see ascend310_infer/README.md and utils/infer310.py), without MindSpore:
// flag parsing, shapes.txt / inputs.txt reading and writing, raw array files. Errors are thrown as
// std::runtime_error naming the file (and line) at fault.
#ifndef ZOO_ASCEND310_UTILS_H_
#define ZOO_ASCEND310_UTILS_H_

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace zoo310 {

// One array of an item: numpy dtype name ("float32", ...) and shape (empty = 0-d).
struct ArraySpec {
  std::string dtype;
  std::vector<int64_t> shape;
};

// One item of a shapes.txt: its name and its arrays by index (input or output order).
struct Item {
  std::string name;
  std::vector<ArraySpec> arrays;
};

// "--name value" and "--name=value" pairs; throws on an unknown or valueless flag. "--help" maps to "1".
std::map<std::string, std::string> ParseFlags(int argc, char **argv, const std::vector<std::string> &known);

std::string JoinPath(const std::string &folder, const std::string &name);
void MakeDirs(const std::string &path);  // mkdir -p; throws when it cannot

// Bytes per element of a numpy dtype name; throws for names outside the protocol's list.
size_t DtypeSize(const std::string &dtype);
int64_t ElementCount(const std::vector<int64_t> &shape);
std::string ShapeText(const std::vector<int64_t> &shape);  // {3,5} -> "3,5"; {} -> "-"

// inputs.txt of an input folder: the input folder names in model input order.
std::vector<std::string> ReadInputNames(const std::string &input_folder);

// shapes.txt -> items in first-appearance order; a later line replaces an earlier one for the same
// (item, index); every item must have indices 0..n-1.
std::vector<Item> ReadShapes(const std::string &path);

// Whole file as bytes; throws unless it holds exactly expected_bytes.
std::vector<char> ReadArrayFile(const std::string &path, size_t expected_bytes);
void WriteArrayFile(const std::string &path, const void *data, size_t bytes);
void WriteShapeLine(std::ofstream *out, const std::string &item, size_t index, const ArraySpec &spec);

// latency.txt ("item ms" per line) and summary.txt ("key value" lines) of a result folder.
void WriteLatency(const std::string &output_folder, const std::vector<std::pair<std::string, double>> &latencies_ms,
                  const std::string &runner, double load_ms);

}  // namespace zoo310

#endif  // ZOO_ASCEND310_UTILS_H_
