using Keybrake.Cli.Output;

namespace Keybrake.Cli.Tests;

public sealed class TableTests
{
    [Test]
    public void Columns_are_aligned_and_amounts_right_aligned()
    {
        var table = new Table().Column("KEY").Column("STATUS").Column("DAILY CAP", alignRight: true);
        table.Row("refund-agent", "active", "$100.00");
        table.Row("sms", "revoked", "$5.00");
        using var output = new StringWriter { NewLine = "\n" };

        table.Write(output);

        Assert.That(output.ToString(), Is.EqualTo(
            """
            KEY           STATUS   DAILY CAP
            refund-agent  active     $100.00
            sms           revoked      $5.00

            """.Replace("\r\n", "\n", StringComparison.Ordinal)));
    }

    [Test]
    public void A_row_with_the_wrong_number_of_cells_is_a_bug_not_a_shifted_table()
    {
        var table = new Table().Column("A").Column("B");
        Assert.Throws<ArgumentException>(() => table.Row("only one"));
    }

    [Test]
    public void Pairs_line_up_their_values()
    {
        using var output = new StringWriter { NewLine = "\n" };
        Table.WritePairs(output, [("Key", "agent"), ("Daily cap", "$1.00"), ("Deny", string.Empty)]);
        Assert.That(output.ToString(), Is.EqualTo("Key        agent\nDaily cap  $1.00\nDeny\n"));
    }
}
