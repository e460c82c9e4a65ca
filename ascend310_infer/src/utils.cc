#include "utils.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iomanip>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace zoo310 {
namespace {

const std::map<std::string, size_t> &DtypeSizes() {
  static const std::map<std::string, size_t> sizes = {
      {"bool", 1},   {"int8", 1},   {"int16", 2},  {"int32", 4},   {"int64", 8},   {"uint8", 1},
      {"uint16", 2}, {"uint32", 4}, {"uint64", 8}, {"float16", 2}, {"float32", 4}, {"float64", 8}};
  return sizes;
}

bool IsItemName(const std::string &name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

bool IsPositiveInteger(const std::string &text) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text) {
    if (!isdigit(static_cast<unsigned char>(c))) return false;
  }
  return std::stoll(text) > 0;
}

std::vector<std::string> Split(const std::string &text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

std::runtime_error LineError(const std::string &path, size_t number, const std::string &what) {
  return std::runtime_error(path + ":" + std::to_string(number) + ": " + what);
}

}  // namespace

std::map<std::string, std::string> ParseFlags(int argc, char **argv, const std::vector<std::string> &known) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      flags["help"] = "1";
      continue;
    }
    if (arg.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument '" + arg + "' (flags are --name value)");
    std::string name = arg.substr(2), value;
    size_t equals = name.find('=');
    if (equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      value = argv[++i];
    } else {
      throw std::runtime_error("flag --" + name + " needs a value");
    }
    bool is_known = false;
    for (const auto &k : known) is_known = is_known || k == name;
    if (!is_known) throw std::runtime_error("unknown flag --" + name);
    flags[name] = value;
  }
  return flags;
}

std::string JoinPath(const std::string &folder, const std::string &name) {
  if (folder.empty() || folder.back() == '/') return folder + name;
  return folder + "/" + name;
}

void MakeDirs(const std::string &path) {
  std::string prefix;
  for (const auto &part : Split(path, '/')) {
    prefix += part + "/";
    if (part.empty() || part == "." || part == "..") continue;
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      throw std::runtime_error("cannot create folder " + prefix + ": " + std::strerror(errno));
    }
  }
}

size_t DtypeSize(const std::string &dtype) {
  auto found = DtypeSizes().find(dtype);
  if (found == DtypeSizes().end()) throw std::runtime_error("dtype '" + dtype + "' is not part of the protocol");
  return found->second;
}

int64_t ElementCount(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

std::string ShapeText(const std::vector<int64_t> &shape) {
  if (shape.empty()) return "-";
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text;
}

std::vector<std::string> ReadInputNames(const std::string &input_folder) {
  std::string path = JoinPath(input_folder, "inputs.txt");
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + " not found: write the inputs with utils/infer310.py write_inputs");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw std::runtime_error(path + " lists no inputs");
  return names;
}

std::vector<Item> ReadShapes(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + " not found: a protocol folder needs a shapes.txt");
  std::vector<Item> items;
  std::map<std::string, size_t> position;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string item, index_text, dtype, shape_text, extra;
    if (!(fields >> item >> index_text >> dtype >> shape_text) || (fields >> extra)) {
      throw LineError(path, number, "expected 'item index dtype shape', got '" + line + "'");
    }
    if (!IsItemName(item)) throw LineError(path, number, "item name '" + item + "' must match [A-Za-z0-9._-]+");
    if (index_text != "0" && !IsPositiveInteger(index_text)) {
      throw LineError(path, number, "index '" + index_text + "' is not a non-negative integer");
    }
    if (DtypeSizes().count(dtype) == 0) throw LineError(path, number, "unknown dtype '" + dtype + "'");
    ArraySpec spec{dtype, {}};
    if (shape_text != "-") {
      for (const auto &dim : Split(shape_text, ',')) {
        if (!IsPositiveInteger(dim)) throw LineError(path, number, "bad shape '" + shape_text + "'");
        spec.shape.push_back(std::stoll(dim));
      }
    }
    if (position.count(item) == 0) {
      position[item] = items.size();
      items.push_back(Item{item, {}});
    }
    auto &arrays = items[position[item]].arrays;
    size_t index = std::stoul(index_text);
    if (arrays.size() <= index) arrays.resize(index + 1);
    arrays[index] = spec;
  }
  for (const auto &item : items) {
    for (size_t i = 0; i < item.arrays.size(); ++i) {
      if (item.arrays[i].dtype.empty()) {
        throw std::runtime_error(path + ": item '" + item.name + "' has no line for index " + std::to_string(i));
      }
    }
  }
  return items;
}

std::vector<char> ReadArrayFile(const std::string &path, size_t expected_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error(path + " not found (listed in shapes.txt)");
  size_t bytes = static_cast<size_t>(in.tellg());
  if (bytes != expected_bytes) {
    throw std::runtime_error(path + " holds " + std::to_string(bytes) + " bytes, shapes.txt implies " +
                             std::to_string(expected_bytes));
  }
  std::vector<char> data(bytes);
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(bytes));
  if (!in) throw std::runtime_error("cannot read " + path);
  return data;
}

void WriteArrayFile(const std::string &path, const void *data, size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char *>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void WriteShapeLine(std::ofstream *out, const std::string &item, size_t index, const ArraySpec &spec) {
  *out << item << ' ' << index << ' ' << spec.dtype << ' ' << ShapeText(spec.shape) << '\n';
  if (!*out) throw std::runtime_error("cannot write shapes.txt line for item " + item);
}

void WriteLatency(const std::string &output_folder, const std::vector<std::pair<std::string, double>> &latencies_ms,
                  const std::string &runner, double load_ms) {
  std::ofstream latency(JoinPath(output_folder, "latency.txt"), std::ios::trunc);
  double total = 0;
  latency << std::fixed << std::setprecision(3);
  for (const auto &entry : latencies_ms) {
    latency << entry.first << ' ' << entry.second << '\n';
    total += entry.second;
  }
  std::ofstream summary(JoinPath(output_folder, "summary.txt"), std::ios::trunc);
  double mean = latencies_ms.empty() ? 0.0 : total / static_cast<double>(latencies_ms.size());
  summary << std::fixed << std::setprecision(3) << "runner " << runner << "\nitems " << latencies_ms.size()
          << "\nmean_ms " << mean << "\ntotal_ms " << total << "\nload_ms " << load_ms << '\n';
  if (!latency || !summary) throw std::runtime_error("cannot write latency.txt / summary.txt in " + output_folder);
}

}  // namespace zoo310
