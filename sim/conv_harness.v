// Simulation harness around the conv core (hw/conv_core.py): plays host scripts and input
// samples in the simulator and logs what the core answers, so that the cocotb testbench
// (sim/tb_conv.py) wakes once per script or sample instead of once per clock cycle. The same
// protocol as the layer core's harness (sim/harness.v, sim.harness.HarnessDriver).
//
// sim.conv_harness.render fills in the two generated parts (the lines marked CORE and
// KERNEL_READS between at signs), which depend on the core's geometry: the core's instance
// (its knobs from the `regs` word, ports of width zero left out) and the kernel reads (one
// case per lane, since a memory's name holds its lane).
//
// - host player (sim/host_player.vh): plays host_count entries of `host.hex`, one per cycle
//   (the core's host port takes a write in every cycle). The region field holds
//   hw.conv_core.ConvRegion in its low bit. A write goes to the core's host port; a read (the
//   core's host port has none yet) reads the kernel memory of that region and lane directly
//   and logs it as "H<hex>".
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
    parameter TARGET_W = 1,  // the host player's target field: one core, target 0
    parameter READ_TARGET = 1  // none: the core's host port only writes
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
    // no core reads through its host port: the player never waits for read data
    assign r_rdata = {DATA_W{1'b0}};
    assign r_rvalid = 1'b0;
    assign r_ready = 1'b1;

    // kernel reads: the memory word of the access's region, lane and address
    always @(posedge clk)
        if (!rst && h_re)
@KERNEL_READS@

    // ---------------- probe and winners ----------------
    always @(posedge clk) begin
        if (!rst && probe[PROBE_VALID_BIT])
            $fwrite(log_fd, "P%b\n", probe);
        if (!rst && winner[WINNER_VALID_BIT])
            $fwrite(log_fd, "W%h\n", winner);
    end
endmodule

`default_nettype wire
