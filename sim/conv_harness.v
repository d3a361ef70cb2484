// Simulation harness around the conv core (hw/conv_core.py): plays host scripts and input
// samples in the simulator and logs what the core answers, so that the cocotb testbench
// (sim/tb_conv.py) wakes once per script or sample instead of once per clock cycle. The same
// protocol as the layer core's harness (sim/harness.v, sim.harness.HarnessDriver).
//
// sim.conv_harness.render fills in the generated part (the line marked CORE between at
// signs), the core's instance, which depends on the core's geometry: its knobs from the `regs`
// word, ports of width zero left out.
//
// - host player (sim/host_player.vh): plays host_count entries of `host.hex` through the
//   core's host port, one per cycle; the region field holds hw.conv_core.ConvRegion in its low
//   bit. Read data is logged as "H<hex>".
// - sample player (sim/sample_player.vh): streams `beats.hex` with `regs` (the knobs) held,
//   logs output beats "O<hex>", done when the END beat is taken.
//
// Every cycle whose probe is valid (a sweep row's leaked membranes) is logged as "P<binary>",
// every winner (learning) as "W<hex>". `counters`, `error` and `core_lfsr` are the core's.

`default_nettype none

module sim_harness #(
    parameter EVENT_W = 12,
    parameter PROBE_W = 77,
    parameter REGS_W = 80,
    parameter LANE_W = 2,
    parameter ADDR_W = 7,
    parameter DATA_W = 9,
    parameter WINNER_W = 15,
    parameter COUNTERS_W = 416,
    parameter PROBE_VALID_BIT = 0,
    parameter WINNER_VALID_BIT = 0,
    parameter END_BIT = 0,
    parameter MAX_BEATS = 1024,
    parameter MAX_HOST = 8192,
    parameter TARGET_W = 1  // the host player's target field: one core, target 0
) (
    `include "harness_ports.vh"
    output wire [1:0] error /*verilator public_flat_rw*/,
    output wire [COUNTERS_W-1:0] counters /*verilator public_flat_rw*/,
    output wire [31:0] core_lfsr /*verilator public_flat_rw*/
);
    /*verilator public_module*/
    // ---------------- the core ----------------
    `include "harness_wires.vh"
    wire [EVENT_W-1:0] out_payload;
    wire [PROBE_W-1:0] probe;
    wire [WINNER_W-1:0] winner;

@CORE@

    `include "sample_player.vh"

    `include "host_player.vh"
    assign core_idle = 1'b1;  // the core sends its END last
    assign r_ready = 1'b1;  // the core takes an access in every cycle between samples

    // ---------------- probe and winners ----------------
    always @(posedge clk) begin
        if (!rst && probe[PROBE_VALID_BIT])
            $fwrite(log_fd, "P%b\n", probe);
        if (!rst && winner[WINNER_VALID_BIT])
            $fwrite(log_fd, "W%h\n", winner);
    end
endmodule

`default_nettype wire
