// ascend310_infer --mindir_path M --input_path IN --output_path OUT [--device_id 0] [--shapes FILE]
//                 [--device_target Ascend310|CPU]
// Runs every item of a protocol input folder (see ../README.md) through a MINDIR with the MindSpore C++
// inference API and writes OUT/<item>_<k>.bin, OUT/shapes.txt, OUT/latency.txt and OUT/summary.txt.
// A model with dynamic input axes (-1) is resized per item; a fixed-shape model requires every item to
// match its input shapes.
#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/serialization.h"
#include "include/api/types.h"
#include "utils.h"

namespace {

using mindspore::DataType;

const char kUsage[] =
    "usage: ascend310_infer --mindir_path M --input_path IN --output_path OUT [--device_id 0]\n"
    "                       [--shapes IN/shapes.txt] [--device_target Ascend310|CPU]\n";

const std::vector<std::pair<std::string, DataType>> &DtypeNames() {
  static const std::vector<std::pair<std::string, DataType>> names = {
      {"bool", DataType::kNumberTypeBool},       {"int8", DataType::kNumberTypeInt8},
      {"int16", DataType::kNumberTypeInt16},     {"int32", DataType::kNumberTypeInt32},
      {"int64", DataType::kNumberTypeInt64},     {"uint8", DataType::kNumberTypeUInt8},
      {"uint16", DataType::kNumberTypeUInt16},   {"uint32", DataType::kNumberTypeUInt32},
      {"uint64", DataType::kNumberTypeUInt64},   {"float16", DataType::kNumberTypeFloat16},
      {"float32", DataType::kNumberTypeFloat32}, {"float64", DataType::kNumberTypeFloat64}};
  return names;
}

std::string DtypeName(DataType type) {
  for (const auto &entry : DtypeNames()) {
    if (entry.second == type) return entry.first;
  }
  throw std::runtime_error("the model uses data type " + std::to_string(static_cast<int>(type)) +
                           ", which the protocol cannot store");
}

void Check(const mindspore::Status &status, const std::string &what) {
  if (status != mindspore::kSuccess) throw std::runtime_error(what + " failed: " + status.ToString());
}

// Same rank, and every model axis is either dynamic (-1) or equal to the item's.
bool Fits(const std::vector<int64_t> &model_shape, const std::vector<int64_t> &item_shape) {
  if (model_shape.size() != item_shape.size()) return false;
  for (size_t i = 0; i < model_shape.size(); ++i) {
    if (model_shape[i] >= 0 && model_shape[i] != item_shape[i]) return false;
  }
  return true;
}

std::shared_ptr<mindspore::Context> MakeContext(const std::string &target, uint32_t device_id) {
  auto context = std::make_shared<mindspore::Context>();
  if (target == "Ascend310" || target == "Ascend") {
    auto ascend = std::make_shared<mindspore::Ascend310DeviceInfo>();
    ascend->SetDeviceID(device_id);
    context->MutableDeviceInfo().push_back(ascend);
  } else if (target == "CPU") {
    context->MutableDeviceInfo().push_back(std::make_shared<mindspore::CPUDeviceInfo>());
  } else {
    throw std::runtime_error("--device_target must be Ascend310 or CPU, got '" + target + "'");
  }
  return context;
}

uint32_t ParseDeviceId(const std::string &text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 4) {
    throw std::runtime_error("--device_id must be a non-negative integer, got '" + text + "'");
  }
  return static_cast<uint32_t>(std::stoul(text));
}

int Run(std::map<std::string, std::string> flags) {
  const std::string mindir = flags["mindir_path"], input = flags["input_path"], output = flags["output_path"];
  const uint32_t device_id = ParseDeviceId(flags.count("device_id") ? flags["device_id"] : "0");
  const std::string target = flags.count("device_target") ? flags["device_target"] : "Ascend310";
  auto names = zoo310::ReadInputNames(input);
  auto items = zoo310::ReadShapes(flags.count("shapes") ? flags["shapes"] : zoo310::JoinPath(input, "shapes.txt"));

  auto load_start = std::chrono::steady_clock::now();
  mindspore::Graph graph;
  mindspore::Model model;
  try {  // some runtimes throw instead of returning a Status (e.g. for a MINDIR newer than they read)
    if (target == "CPU") {  // MindSpore Lite's runtime builds only from a file; MindSpore's ACL one only from a Graph
      Check(model.Build(mindir, mindspore::ModelType::kMindIR, MakeContext(target, device_id)), "Model::Build");
    } else {
      Check(mindspore::Serialization::Load(mindir, mindspore::ModelType::kMindIR, &graph), "Serialization::Load");
      Check(model.Build(mindspore::GraphCell(graph), MakeContext(target, device_id)), "Model::Build");
    }
  } catch (const std::exception &error) {
    throw std::runtime_error("cannot load " + mindir + " on " + target + ": " + error.what());
  }
  std::chrono::duration<double, std::milli> load_ms = std::chrono::steady_clock::now() - load_start;

  auto model_inputs = model.GetInputs();
  if (model_inputs.size() != names.size()) {
    throw std::runtime_error(mindir + " takes " + std::to_string(model_inputs.size()) + " inputs, " +
                             zoo310::JoinPath(input, "inputs.txt") + " lists " + std::to_string(names.size()));
  }
  std::vector<std::vector<int64_t>> declared, current;
  bool dynamic = false;
  for (const auto &tensor : model_inputs) {
    declared.push_back(tensor.Shape());
    for (auto dim : tensor.Shape()) dynamic = dynamic || dim < 0;
  }
  current = declared;

  zoo310::MakeDirs(output);
  std::ofstream shapes(zoo310::JoinPath(output, "shapes.txt"), std::ios::trunc);
  std::vector<std::pair<std::string, double>> latencies;
  for (size_t n = 0; n < items.size(); ++n) {
    const auto &item = items[n];
    if (item.arrays.size() != names.size()) {
      throw std::runtime_error("item '" + item.name + "' has " + std::to_string(item.arrays.size()) +
                               " inputs, the model takes " + std::to_string(names.size()));
    }
    std::vector<std::vector<char>> buffers;
    std::vector<std::vector<int64_t>> item_shapes;
    for (size_t i = 0; i < names.size(); ++i) {
      const auto &spec = item.arrays[i];
      if (spec.dtype != DtypeName(model_inputs[i].DataType()) || !Fits(declared[i], spec.shape)) {
        throw std::runtime_error("item '" + item.name + "' input " + std::to_string(i) + " is " + spec.dtype + " [" +
                                 zoo310::ShapeText(spec.shape) + "], the model takes " +
                                 DtypeName(model_inputs[i].DataType()) + " [" + zoo310::ShapeText(declared[i]) +
                                 "] (-1 = any): fix the preprocess or export with dynamic axes");
      }
      size_t bytes = zoo310::DtypeSize(spec.dtype) * static_cast<size_t>(zoo310::ElementCount(spec.shape));
      buffers.push_back(zoo310::ReadArrayFile(zoo310::JoinPath(zoo310::JoinPath(input, names[i]), item.name + ".bin"),
                                              bytes));
      item_shapes.push_back(spec.shape);
    }
    if (dynamic && item_shapes != current) {
      Check(model.Resize(model.GetInputs(), item_shapes), "resizing the model inputs for item '" + item.name + "'");
      current = item_shapes;
    }
    std::vector<mindspore::MSTensor> inputs, outputs;
    for (size_t i = 0; i < names.size(); ++i) {
      inputs.emplace_back(model_inputs[i].Name(), model_inputs[i].DataType(), item_shapes[i], buffers[i].data(),
                          buffers[i].size());
    }
    auto start = std::chrono::steady_clock::now();
    Check(model.Predict(inputs, &outputs), "predicting item '" + item.name + "'");
    std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    latencies.emplace_back(item.name, elapsed.count());
    for (size_t k = 0; k < outputs.size(); ++k) {
      zoo310::ArraySpec spec{DtypeName(outputs[k].DataType()), outputs[k].Shape()};
      zoo310::WriteArrayFile(zoo310::JoinPath(output, item.name + "_" + std::to_string(k) + ".bin"),
                             outputs[k].Data().get(), outputs[k].DataSize());
      zoo310::WriteShapeLine(&shapes, item.name, k, spec);
    }
    std::cout << "[" << n + 1 << "/" << items.size() << "] " << item.name << " " << elapsed.count() << " ms\n";
  }
  zoo310::WriteLatency(output, latencies, "cpp", load_ms.count());
  double total = 0;
  for (const auto &entry : latencies) total += entry.second;
  std::cout << "items=" << latencies.size() << " mean_ms=" << (latencies.empty() ? 0.0 : total / latencies.size())
            << " load_ms=" << load_ms.count() << " -> " << output << '\n';
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::map<std::string, std::string> flags;
  try {
    flags = zoo310::ParseFlags(argc, argv,
                               {"mindir_path", "input_path", "output_path", "device_id", "shapes", "device_target"});
  } catch (const std::exception &error) {
    std::cerr << "error: " << error.what() << '\n' << kUsage;
    return 2;
  }
  if (flags.count("help")) {
    std::cout << kUsage;
    return 0;
  }
  for (const char *required : {"mindir_path", "input_path", "output_path"}) {
    if (!flags.count(required)) {
      std::cerr << "error: --" << required << " is required\n" << kUsage;
      return 2;
    }
  }
  try {
    return Run(flags);
  } catch (const std::exception &error) {
    std::cerr << "error: " << error.what() << '\n';
    return 1;
  }
}
