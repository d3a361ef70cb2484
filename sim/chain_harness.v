// Simulation harness around the deep network's chain of cores (hw/deep_chain.py): plays host
// scripts and input samples in the simulator and logs what every core answers, so that the
// cocotb testbench (sim/tb_chain.py) wakes once per script or sample instead of once per clock
// cycle. The protocol is the other harnesses' (sim.harness.HarnessDriver), with a target field
// in each host-script entry: the layer whose host port it goes to.
//
// sim.chain_harness.render fills in the two generated parts (marked CORE and TAPS between at
// signs), which depend on the chain's configuration: the chain's instance (each layer's knobs
// sliced from the `regs` word, its host port routed by the entry's target and its read data
// into r_rdata, its status into the `status` word) and the per-layer logs.
//
// - host player (host_req / host_done; sim/host_player.vh): plays host_count entries of
//   `host.hex`, each through the host port of the layer its target field names; read data
//   comes back as "H<hex>".
// - sample player (sim/sample_player.vh): streams `beats.hex` with `regs` held, logs the top's
//   output beats "O<hex>", done when the END beat is taken.
//
// Every beat that leaves a layer's core below the top is logged as "E<layer> <hex>" (the top's
// are the sample player's "O" lines, written before it flushes the log), every conv sweep row's
// leaked membranes as "P<layer> <binary>", every conv winner as "W<layer> <hex>", every
// classifier probe word (sweep row or STDP update) as "P<layer> <binary>".

`default_nettype none

module sim_harness #(
    parameter EVENT_W = 12,
    parameter OUT_W = 12,
    parameter REGS_W = 80,
    parameter STATUS_W = 32,
    parameter TARGET_W = 3,
    parameter LANE_W = 2,
    parameter ADDR_W = 20,
    parameter DATA_W = 32,
    parameter CLASSIFIER = 4,  // its layer index: the one core whose host port has a ready
    parameter END_BIT = 0,
    parameter MAX_BEATS = 1024,
    parameter MAX_HOST = 8192
) (
    `include "harness_ports.vh"
    output wire [STATUS_W-1:0] status /*verilator public_flat_rw*/
);
    /*verilator public_module*/
    // ---------------- the chain ----------------
    `include "harness_wires.vh"
    wire [OUT_W-1:0] out_payload;

@CORE@

    `include "sample_player.vh"

    `include "host_player.vh"

    // a conv core takes an access in every cycle between samples; the classifier when ready
    assign r_ready = e_target != CLASSIFIER || c_ready;

    // ---------------- every layer's output, probes and winners ----------------
    always @(posedge clk)
        if (!rst) begin
@TAPS@
        end
endmodule

`default_nettype wire
