// Placeholder until the agent process is written.
Console.WriteLine("{}");
