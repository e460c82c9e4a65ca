// protocol_echo --input_path IN --output_path OUT [--shapes FILE]
// Copies every input of every item to OUT/<item>_<index>.bin with the result shapes.txt, latency.txt and
// summary.txt, using the same protocol code as the runner. Needs no MindSpore: the tests use it to check
// that the C++ reader/writer and utils/infer310.py agree byte for byte.
#include <chrono>
#include <iostream>
#include <stdexcept>

#include "utils.h"

int main(int argc, char **argv) {
  try {
    auto flags = zoo310::ParseFlags(argc, argv, {"input_path", "output_path", "shapes"});
    if (flags.count("help") || !flags.count("input_path") || !flags.count("output_path")) {
      std::cerr << "usage: protocol_echo --input_path IN --output_path OUT [--shapes FILE]\n";
      return flags.count("help") ? 0 : 2;
    }
    const std::string input = flags["input_path"], output = flags["output_path"];
    auto names = zoo310::ReadInputNames(input);
    auto items =
        zoo310::ReadShapes(flags.count("shapes") ? flags["shapes"] : zoo310::JoinPath(input, "shapes.txt"));
    zoo310::MakeDirs(output);
    std::ofstream shapes(zoo310::JoinPath(output, "shapes.txt"), std::ios::trunc);
    std::vector<std::pair<std::string, double>> latencies;
    for (const auto &item : items) {
      if (item.arrays.size() != names.size()) {
        throw std::runtime_error("item '" + item.name + "' has " + std::to_string(item.arrays.size()) +
                                 " inputs, inputs.txt lists " + std::to_string(names.size()));
      }
      auto start = std::chrono::steady_clock::now();
      for (size_t i = 0; i < item.arrays.size(); ++i) {
        const auto &spec = item.arrays[i];
        size_t bytes = zoo310::DtypeSize(spec.dtype) * static_cast<size_t>(zoo310::ElementCount(spec.shape));
        std::string path = zoo310::JoinPath(zoo310::JoinPath(input, names[i]), item.name + ".bin");
        auto data = zoo310::ReadArrayFile(path, bytes);
        zoo310::WriteArrayFile(zoo310::JoinPath(output, item.name + "_" + std::to_string(i) + ".bin"), data.data(),
                               data.size());
        zoo310::WriteShapeLine(&shapes, item.name, i, spec);
      }
      std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
      latencies.emplace_back(item.name, elapsed.count());
    }
    zoo310::WriteLatency(output, latencies, "echo", 0.0);
    std::cout << "echoed " << items.size() << " items to " << output << '\n';
    return 0;
  } catch (const std::exception &error) {
    std::cerr << "error: " << error.what() << '\n';
    return 1;
  }
}
