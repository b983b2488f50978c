// Every kind of bad input, end to end (the harness: cli_cases.h): exit code 2, one clear line,
// nothing written and nothing of the user's changed.
#include <gtest/gtest.h>
#include <torch/version.h>

#include "tests/cli_cases.h"

namespace tsopt {
namespace {

using test::ErrorCase;

class CliError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(CliError, ExitsTwoWithAClearLineAndWritesNothing) { test::runErrorCase(GetParam()); }

const std::string kRun = "run {model} -o {out} --report {dir}/report.json ";
const std::string kVerify = "verify {model} {model} ";
const std::string kShapeHelp =
    "(expected SHAPE[:DTYPE[:VALUES]], [SPEC,...] or {KEY=SPEC,...}, e.g. 1x3x224x224, "
    "1x16:int64:1000, 4:int64:=@0.1 or [3x64x64,3x48x64])";

const ErrorCase kCases[] = {
    // Models.
    {"ModelMissing", "run {dir}/missing.pt -o {out}",
     "cannot load model '{dir}/missing.pt': no such file"},
    {"ModelIsAFolder", "run {dir}/sub -o {out}", "it is a directory"},
    {"ModelIsAFifo", "run {dir}/fifo.svg -o {out}",
     "cannot load model '{dir}/fifo.svg': it is a FIFO, not a file"},
    {"TimeoutNegative", kRun + "--timeout -1", "--timeout: expected 0 or more seconds, got '-1'"},
    {"ModelEmpty", "run {dir}/empty.pt -o {out}", "the file is empty"},
    {"ModelNotAZip", "run {dir}/junk.pt -o {out}", "not a TorchScript archive"},
    {"ModelRandomBytes", "run {dir}/random.pt -o {out}", "not a TorchScript archive"},
    {"ModelTruncated", "run {dir}/truncated.pt -o {out}", "not a TorchScript archive"},
    {"ModelChecksumWrong", "run {dir}/corrupt.pt -o {out}",
     "is corrupt (its checksum does not match)"},
    {"ModelPlainZip", "run {dir}/plain.zip -o {out}",
     "not a TorchScript archive (a zip file, but not one torch.jit.save wrote)"},
    {"ModelStateDict", "run {dir}/state_dict.pt -o {out}",
     "not a TorchScript module (a torch.save archive? save with torch.jit.save)"},
    {"MethodMissing", kRun + "--method nosuch", "no method 'nosuch'"},
    {"ShowModelEmpty", "show {dir}/empty.pt", "the file is empty"},
    {"ShowMethodMissing", "show {model} --method nosuch", "no method 'nosuch'"},
    {"DotModelTruncated", "dot {dir}/truncated.pt -o {dir}/g.svg", "not a TorchScript archive"},
    {"ViewModelJunk", "view {dir}/junk.pt -o {dir}/v.html", "not a TorchScript archive"},
    {"ViewMethodMissing", "view {model} --method nosuch -o {dir}/v.html", "no method 'nosuch'"},
    {"VerifySecondModelMissing", "verify {model} {dir}/missing.pt",
     "cannot load model '{dir}/missing.pt': no such file"},

    // Pipelines.
    {"PipelineEmpty", kRun + "-p ''", "bad pipeline at column 1: the pipeline is empty"},
    {"PipelineBlank", kRun + "-p '  '", "the pipeline is empty"},
    {"PipelineUnclosedOptions", kRun + "-p 'inline{max-depth=1'",
     "expected '}' to close the options, found end of pipeline"},
    {"PipelineStrayBrace", kRun + "-p 'inline}'",
     "at column 7: expected ',' or end of pipeline, found '}'"},
    {"PipelineUnclosedGroup", kRun + "-p 'fixed-point(dce'",
     "expected ',' or ')', found end of pipeline"},
    {"PipelineStrayParen", kRun + "-p 'dce)'", "found ')'"},
    {"PipelineEmptyElement", kRun + "-p 'inline,,dce'", "at column 8: empty pass name"},
    {"PipelineLeadingComma", kRun + "-p ',dce'", "at column 1: empty pass name"},
    {"PipelineTrailingComma", kRun + "-p 'dce,'", "at column 5: empty pass name"},
    {"PipelineEmptyGroup", kRun + "-p 'fixed-point()'", "fixed-point group is empty"},
    {"PipelineUnknownPass", kRun + "-p 'inline,dcee'",
     "at column 8: unknown pass 'dcee' (did you mean 'dce'?); 'tsopt passes' lists them"},
    {"PipelineUnknownOption", kRun + "-p 'inline{max-dept=1}'",
     "unknown option 'max-dept' of pass 'inline' (did you mean 'max-depth'?)"},
    {"PipelineOptionNotAnInteger", kRun + "-p 'inline{max-depth=x}'",
     "option 'max-depth' of pass 'inline' takes an integer, got 'x'"},
    {"PipelineOptionOutOfRange", kRun + "-p 'inline{max-depth=-5}'",
     "option 'max-depth' of pass 'inline' must be >= -1, got -5"},
    {"PipelineOptionTwice", kRun + "-p 'inline{max-depth=1,max-depth=2}'",
     "option 'max-depth' given twice"},
    {"PipelineOptionWithoutValue", kRun + "-p 'inline{only=}'", "expected a value"},
    {"PipelineGroupIterationsZero", kRun + "-p 'fixed-point{max-iterations=0}(dce)'",
     "option 'max-iterations' of fixed-point takes an integer >= 1"},
    {"PipelineFileMissing", kRun + "-p @{dir}/nope.txt",
     "cannot read pipeline file '{dir}/nope.txt': no such file"},
    {"PipelineFileIsAFolder", kRun + "-p @{dir}/sub", "not a regular file"},
    {"PipelineFileBad", kRun + "-p @{dir}/bad-pipeline.txt", "empty pass name"},

    // Plugins.
    {"PluginMissing", kRun + "--plugin {dir}/nope.so", "plugin '{dir}/nope.so': no such file"},
    {"PluginNotASharedLibrary", kRun + "--plugin {dir}/fake.so",
     "plugin '{dir}/fake.so' is not a loadable shared library"},
    {"PluginIsAFolder", kRun + "--plugin {dir}/sub", "is not a shared library (it is a directory)"},
    {"PluginWithoutEntryPoint", kRun + "--plugin {lib}/tsopt_test_plugin_no_entry_point.so",
     "has no entry point 'tsoptGetPluginInfo'"},
    {"PluginWrongApiVersion", kRun + "--plugin {lib}/tsopt_test_plugin_bad_version.so",
     "was built for plugin API version 1001, this tsopt has version 3"},
    {"PluginNameTaken", kRun + "--plugin {lib}/tsopt_test_plugin_duplicate_name.so",
     "registers pass 'dce', which is already registered by builtin"},
    {"PluginOnPassesCommand", "passes --plugin {dir}/fake.so", "is not a loadable shared library"},

    // Outputs that would destroy what the user has.
    {"UpdateGoldenUnderAFile", kRun + "--golden-dir {dir}/fake.so/golden --update-golden",
     "cannot write the golden folder '{dir}/fake.so/golden': '{dir}/fake.so' is not a folder"},
    {"DumpDirUnderAFile", kRun + "--dump-dir {dir}/fake.so/dumps",
     "cannot write the dump folder '{dir}/fake.so/dumps': '{dir}/fake.so' is not a folder"},
    {"ReportIsTheInputModel", "run {model} -o {out} --report {model}",
     "the JSON report '{model}' is the input model ({model}): tsopt does not overwrite what it "
     "reads"},
    {"HtmlIsTheInputModel", kRun + "--html {model}",
     "the HTML report '{model}' is the input model ({model}): tsopt does not overwrite what it "
     "reads"},
    {"ReportIsTheOutputModel", "run {model} -o {out} --report {out}",
     "the JSON report '{out}' is also the output model ({out})"},
    {"ReportIsTheCandidate", "verify {model} {dir}/cand.pt --report {dir}/./cand.pt",
     "the JSON report '{dir}/./cand.pt' is the candidate model ({dir}/cand.pt): tsopt does not "
     "overwrite what it reads"},
    {"OutputIsADevice", "run {model} -o /dev/null",
     "the output model '/dev/null' is a character device, not a regular file: tsopt writes only "
     "files"},
    {"DotOutputIsAFifo", "dot {model} -o {dir}/fifo.svg",
     "the output '{dir}/fifo.svg' is a FIFO, not a regular file: tsopt writes only files"},
    {"ViewPageIsTheModel", "view {model} -o {model}",
     "the page '{model}' is the model ({model}): tsopt does not overwrite what it reads"},
    {"ViewFolderMissing", "view {model} -o {dir}/no/v.html",
     "cannot write '{dir}/no/v.html': folder '{dir}/no' does not exist"},

    // Operator libraries (--ops, TSOPT_OPS) and models that need one.
    {"OpsNotASharedLibrary", kRun + "--ops {dir}/fake.so",
     "operator library '{dir}/fake.so' is not a loadable shared library: "},
    {"OpsMissing", "show {model} --ops {dir}/nope.so",
     "operator library '{dir}/nope.so': no such file"},
    {"OpsIsAFolder", "verify {model} {model} --ops {dir}/sub",
     "is not a shared library (it is a directory)"},
    {"OpsFailingToRegister", kRun + "--ops {lib}/tsopt_test_ops_failing_registration.so",
     "operator library '{lib}/tsopt_test_ops_failing_registration.so' failed to register its "
     "operators: Only a single TORCH_LIBRARY can be used to register the namespace aten"},
    {"OpsBuiltAgainstAnotherLibTorch", "show {model} --ops {lib}/tsopt_test_ops_other_libtorch.so",
     "operator library '{lib}/tsopt_test_ops_other_libtorch.so' was built against another "
     "LibTorch than this tsopt's (" TORCH_VERSION "): it needs "
     "c10::detail::onlyInAnotherLibTorch(), which this LibTorch lacks"},
    {"OpsFromTheEnvironment", "TSOPT_OPS={dir}/fake.so {tsopt} show {model}",
     "operator library '{dir}/fake.so' is not a loadable shared library: "},
    {"ModelNeedsAnOperatorLibrary", "run {dir}/uses_test_op.pt -o {out}",
     "cannot load model '{dir}/uses_test_op.pt': it calls operator tsopt_test::double_it, which "
     "no loaded operator library registers; load the library that provides it (--ops LIB.so, or "
     "TSOPT_OPS=LIB.so)"},

    // Passes that fail mid-pipeline.
    {"PassThrows",
     kRun + "-p inline,test-throw,dce --plugin {lib}/tsopt_test_plugin_throwing_pass.so",
     "pass 'test-throw' failed on method 'forward': deliberate failure"},
    {"PassBreaksTheGraph",
     kRun + "-p inline,test-break-graph,dce --plugin {lib}/tsopt_test_plugin_throwing_pass.so",
     "pass 'test-break-graph' left an invalid graph in method 'forward': node "
     "prim::TupleConstruct (defining %"},
    {"PassThrowsInsideFixedPoint",
     kRun + "-p 'fixed-point(dce,test-throw)' --plugin {lib}/tsopt_test_plugin_throwing_pass.so",
     "pass 'test-throw' failed on method 'forward'"},

    // Outputs.
    {"OutputFolderMissing", "run {model} -o {dir}/no/o.pt",
     "cannot write '{dir}/no/o.pt': folder '{dir}/no' does not exist"},
    {"OutputFolderIsAFile", "run {model} -o {dir}/existing.pt/o.pt",
     "'{dir}/existing.pt' is not a folder"},
    {"OutputFolderNotWritable", "run {model} -o /proc/tsopt-o.pt",
     "cannot write '/proc/tsopt-o.pt': folder '/proc' is not writable"},
    {"OutputIsAFolder", "run {model} -o {dir}/sub", "it is a directory"},
    {"OutputIsTheInput", "run {model} -o {model}",
     "output '{model}' is the input model; allow overwriting it (--in-place)"},
    {"OutputIsTheInputByAnotherPath", "run {model} -o {dir}/sub/../model.pt",
     "is the input model; allow overwriting it (--in-place)"},
    {"OutputMissing", "run {model}", "--output is required (see tsopt run --help)"},
    // The positional model is named apart from --input (CLI11 2.4 takes them for one name).
    {"ModelNotGiven", "run -o {out} --input 1x3x8x8", "model is required (see tsopt run --help)"},
    {"ReportFolderMissing", "run {model} -o {out} --report {dir}/no/r.json",
     "cannot write '{dir}/no/r.json': folder '{dir}/no' does not exist"},
    {"HtmlFolderMissing", "run {model} -o {out} --html {dir}/no/r.html",
     "folder '{dir}/no' does not exist"},
    {"DumpDirIsAFile", "run {model} -o {out} --dump-dir {dir}/existing.pt", "existing.pt"},
    {"DotFormatUnknown", "dot {model} -o {dir}/g.gif",
     "cannot tell the format of '{dir}/g.gif': end it in .dot, .svg or .png"},

    // Verification inputs.
    {"VerifyTooManyShapes", kVerify + "--input-shape 2x3x8x8 --input-shape 2x3x8x8",
     "forward(x: Tensor) takes 1 input, got 2 (--input)"},
    {"VerifyTooFewShapes", "verify {dir}/two_inputs.pt {dir}/two_inputs.pt --input-shape 2x3",
     "forward(x: Tensor, y: Tensor) takes 2 inputs, got 1 (--input)"},
    {"VerifyShapeDoesNotFit", kVerify + "--input-shape 2x5x8x8",
     "forward of the reference model rejects the inputs (2x5x8x8): RuntimeError: Given groups=1"},
    {"VerifyShapeWrongRank", kVerify + "--input-shape 2x3x8",
     "forward of the reference model rejects the inputs (2x3x8)"},
    {"VerifyShapeEmpty", kVerify + "--input-shape ''",
     "bad input spec '': '' is not a spec " + kShapeHelp},
    {"VerifyShapeTrailingX", kVerify + "--input-shape 2x",
     "bad input spec '2x': size '' is not a non-negative integer"},
    {"VerifyShapeLetters", kVerify + "--input-shape axb",
     "bad input spec 'axb': size 'a' is not a non-negative integer"},
    {"VerifyShapeNegative", kVerify + "--input-shape 2x-3x4x4", "size '-3' is not a non-negative"},
    {"VerifyShapeTooLarge", kVerify + "--input-shape 99999x99999x99999x9999",
     "bad input spec '99999x99999x99999x9999': more than 2^31 elements"},
    {"VerifyShapeUnknownDtype", kVerify + "--input-shape 2x3x8x8:float99",
     "bad input spec '2x3x8x8:float99': unknown dtype 'float99'"},
    {"VerifyShapeHighOnFloat", kVerify + "--input-shape 2x3x8x8:float:5",
     "bad input spec '2x3x8x8:float:5': VALUES (5) are only for integer dtypes"},
    {"VerifyShapeTooManyParts", kVerify + "--input-shape 2x3:int64:5:6", "bad input spec"},
    {"VerifyInputUnbalanced", kVerify + "--input '[2x3x8x8'",
     "bad input spec '[2x3x8x8': unbalanced brackets"},
    {"VerifyInputBadReference", kVerify + "--input 2x3x@0x8",
     "bad input spec '2x3x@0x8': '@0' is not a size reference @INPUT.DIM, e.g. @0.1"},
    {"VerifyInputReferenceToNothing", kVerify + "--input 2x3x8x@1.0",
     "size reference @1.0: there is no input 1 (the inputs are numbered from 0 to 0)"},
    {"VerifyInputEmptyRange", kVerify + "--input 2x3x8x8:int64:4..2",
     "bad input spec '2x3x8x8:int64:4..2': the range 4..2 is empty"},
    {"VerifyInputNestedTooDeep",
     kVerify + "--input " + std::string(20, '[') + "1" + std::string(20, ']'),
     "nested more than 16 deep"},
    {"VerifyInputWithNoElements", kVerify + "--input 0x3x8x8",
     "input 0 (0x3x8x8) has no elements, so any two models agree on it: give every size at "
     "least 1"},
    {"VerifyScaleOverflows", kVerify + "--input 2x3x8x8 --scale 1e300",
     "input 0 (2x3x8x8) is not finite with input scale 1e+300 in float32: give a smaller scale "
     "(--scale)"},
    {"VerifyInputsFileMissing", kVerify + "--inputs {dir}/none.pt",
     "cannot read inputs file '{dir}/none.pt': no such file"},
    {"VerifyInputsAndShapes", kVerify + "--inputs {dir}/none.pt --input-shape 1",
     "give either saved inputs or input specs, not both (--input)"},
    {"VerifyUnknownDistribution", kVerify + "--dist cauchy",
     "unknown distribution 'cauchy' (known: uniform, normal)"},
    {"VerifyBadTolerance", kVerify + "--rtol x",
     "bad rtol 'x': expected a non-negative number, optionally after DTYPE= (--rtol)"},
    {"RunVerifyShapeDoesNotFit", kRun + "--verify --input-shape 2x5x8x8",
     "forward of the reference model rejects the inputs (2x5x8x8)"},
    {"RunVerifyShapeMalformed", kRun + "--verify --input-shape 2xx3", "bad input spec '2xx3'"},

    {"PresetUnknown", kRun + "-O3", "unknown preset 'O3' (known: O0, O1, O2, backport)"},
    {"PresetAndPipeline", kRun + "-O2 -p dce", "excludes"},
    {"FreezeInTraining", "run {dir}/training.pt -o {out} -O2",
     "pass 'torch-freeze' failed: the model is in training mode"},
    {"FrozenPrepackedConvolution", kRun + "-p torch-freeze,prepack-conv,torch-freeze",
     "pass 'prepack-conv' cannot be followed by 'torch-freeze', which freezes: freezing makes its "
     "prepacked convolutions constants, which LibTorch saves in a form it cannot load; run "
     "'prepack-conv' after it"},
    {"FrozenPrepackedConvolutionInAGroup",
     kRun + "-p 'torch-freeze,fixed-point(torch-freeze,prepack-conv)'",
     "pass 'prepack-conv' cannot be followed by 'torch-freeze', which freezes"},
    {"FrozenMkldnnWeights",
     "run {dir}/chain.pt -o {out} -p torch-freeze,fold-conv-bn,mkldnn-blocked,torch-freeze",
     "pass 'mkldnn-blocked' cannot be followed by 'torch-freeze', which freezes: freezing drops "
     "the __getstate__ that saves its MKLDNN weights, so the model cannot be saved; run "
     "'mkldnn-blocked' after it"},

    // The command line itself.
    {"UnknownCommand", "frobnicate", "unknown command 'frobnicate'"},
    {"MisspelledCommand", "rnu {model}", "did you mean 'run'?"},
    {"UnknownFlag", kRun + "--frobnicate", "--frobnicate (see tsopt run --help)"},
};

INSTANTIATE_TEST_SUITE_P(, CliError, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tsopt
