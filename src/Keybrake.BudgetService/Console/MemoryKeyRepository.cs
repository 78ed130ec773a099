using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>
/// Where the keys that seal the console's cookies are kept: this process's memory, never a file (not the data directory,
/// not the user's home). A restart ends every console session; each replica seals its own.
/// </summary>
internal sealed class MemoryKeyRepository : IXmlRepository
{
    private readonly Lock _lock = new();
    private readonly List<XElement> _elements = [];

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        lock (_lock)
        {
            return _elements.Select(element => new XElement(element)).ToList();
        }
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        lock (_lock)
        {
            _elements.Add(new XElement(element));
        }
    }
}
